"""Answers as documents people can share with their evidence: Markdown to read, JSON to process.

The Markdown repeats every citation's quote verbatim (never escaped or re-wrapped: the point of sharing it is
that anyone can find those exact words in the article), with the article's title, date and file name, and
says when the answer was refused or why it was not phrased by the model. The JSON is the ``qa ask --json``
shape (:meth:`qa.types.Answer.to_dict`), one object per turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa.strings import say
from qa.text import one_line
from qa.types import Answer, AnswerMode, Citation


def answer_markdown(answer: Answer, heading: str = "##") -> str:
    """One question and its answer: the text with its ``[n]`` markers, a status line, then the sources."""
    lines = [f"{heading} {one_line(answer.question)}", ""]
    if answer.rewritten and answer.rewritten.strip() != answer.question.strip():
        lines += [f"*{say('searched_for', answer.lang)}* {one_line(answer.rewritten)}", ""]
    lines += [answer.text, ""]
    if answer.refused:
        lines += ["*Not answered: the articles do not say.*", ""]
    elif answer.mode == AnswerMode.EXTRACTIVE:
        lines += ["*Extractive answer: sentences quoted from the articles, not written by a language model.*", ""]
    if answer.note:
        lines += [f"*Note:* {answer.note}", ""]
    if answer.citations:
        lines += ["**Sources**", ""]
        lines += [_citation_line(c) for c in answer.citations]
        lines.append("")
    elif answer.refused and answer.passages:
        lines += ["**Related passages (none of them answers the question)**", ""]
        lines += [
            f"- [{i}] {_describe(p.name, p.date, p.source)}, characters {p.start}-{p.end}"
            for i, p in enumerate(answer.passages, 1)
        ]
        lines.append("")
    return "\n".join(lines)


def conversation_markdown(turns: Sequence[Answer], title: str | None = None) -> str:
    """Every turn of a conversation, in order, under an optional title."""
    parts = [f"# {one_line(title)}\n"] if title else []
    parts += [answer_markdown(a) for a in turns]
    return "\n".join(parts).rstrip() + "\n"


def conversation_json(turns: Sequence[Answer], title: str | None = None) -> dict[str, Any]:
    """``{"title", "turns": [qa ask --json, ...]}``."""
    return {"title": title, "turns": [a.to_dict() for a in turns]}


def _citation_line(c: Citation) -> str:
    check = "" if c.verified else " (not found word for word in the article)"
    where = f"{_describe(c.name, c.date, c.source, c.page)}, characters {c.start}-{c.end}"
    line = f"- [{c.n}] «{one_line(c.quote)}» — {where}{check}"  # one line: a quote may span two of its article
    return line + "".join(f"\n  {extra}" for extra in citation_extras(c))


def citation_extras(c: Citation) -> list[str]:
    """What a citation adds to its quote, one line each: the dates of its relative times, reckoned from the
    article's date, and where else the story was published."""
    lines = []
    if c.times:
        reckoned = "; ".join(f"«{t.text}» = {t.date}" for t in c.times)
        lines.append(f"{reckoned} (reckoned from the article's date, {c.date})")
    if c.copies:
        lines.append("also published: " + "; ".join(f"{r.source} ({r.date or 'undated'})" for r in c.copies))
    return lines


def _describe(name: str | None, date: str | None, source: str, page: int | None = None) -> str:
    """An article for the reader: its label in italics (when it has one besides its file name), date, page, file."""
    bits = [
        f"*{one_line(name)}*" if name and name != source else None,
        date,
        f"p. {page}" if page else None,
        f"`{source}`",
    ]
    return ", ".join(b for b in bits if b)
