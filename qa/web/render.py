"""Library values -> HTML for the page: pure functions, so they are tested without a server.

Everything taken from an article, a question or a model is escaped here, because an article is untrusted
input and nothing in it may render as live HTML.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from qa.answer import UNCERTAIN, ArticleInfo
from qa.conversations import Conversation
from qa.export import answer_markdown, citation_extras
from qa.strings import say
from qa.types import Answer, AnswerMode, Citation, Passage

RTL_LANGS = {"ar", "fa", "he", "ur", "ps", "yi", "dv", "ku", "sd", "ug"}

Span = tuple[int, int, bool]  # start, end, verified: one highlighted quote inside a passage


def esc(text: object) -> str:
    """HTML-escape anything shown on the page (quotes included, so it is safe inside attributes too)."""
    return html.escape("" if text is None else str(text), quote=True)


def text_dir(lang: str | None) -> str:
    return "rtl" if (lang or "").lower() in RTL_LANGS else "auto"


def lang_attr(lang: str | None) -> str:
    """` lang="xx"` for a plausible language code, nothing otherwise (the code comes from the store)."""
    return f' lang="{lang}"' if lang and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", lang) else ""


def source_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def link_markers(escaped: str, turn: int, count: int, titles: list[str] | None = None) -> str:
    """Turn each ``[n]`` of already-escaped answer text into a link to source n of this turn."""

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if not 1 <= n <= count:
            return m.group(0)
        tip = f' title="{esc(titles[n - 1])}"' if titles and titles[n - 1] else ""
        return f'<a class="qa-cite" href="#{source_id(turn, n)}"{tip}>[{n}]</a>'

    return re.sub(r"\[(\d{1,3})\]", link, escaped)


def mark_reckoned(escaped: str) -> str:
    """Style the dates the answer added after a quote's relative times ("on Thursday [2024-11-14]") as ours."""
    tip = "date reckoned from the article&#x27;s publication date; not in the article"
    return re.sub(r"\[(\d{4}(?:-\d{2}){0,2})\]", rf'<span class="qa-reckoned" title="{tip}">[\1]</span>', escaped)


def paragraphs(escaped: str) -> str:
    """Line breaks of escaped text as ``<br>`` (the chat bubble does not render Markdown)."""
    return escaped.strip().replace("\r\n", "\n").replace("\n", "<br>")


def render_user(question: str) -> str:
    return f'<div class="qa-question" dir="auto">{paragraphs(esc(question))}</div>'


def render_pending(status: str | None = None) -> str:
    extra = f" ({esc(status)})" if status else ""
    return f'<div class="qa-pending">Searching the articles…{extra}</div>'


def render_draft(text: str) -> str:
    """The answer while the model is still writing it: plain, marked as a draft."""
    return (
        f'<div class="qa-answer qa-draft" dir="auto">{paragraphs(esc(text))}'
        '<span class="qa-writing"> ▍ writing, citations are checked at the end</span></div>'
    )


def render_error(message: str) -> str:
    return f'<div class="qa-answer qa-failed" dir="auto">⚠ {esc(message)}</div>'


def render_answer(answer: Answer, turn: int) -> str:
    """The final answer bubble: badges for refusal / extractive mode, the searched question, linked markers."""
    extractive = answer.mode == AnswerMode.EXTRACTIVE
    kind = "qa-refused" if answer.refused else ("qa-extractive" if extractive else "qa-llm")
    parts = [f'<div class="qa-answer {kind}">']
    if answer.rewritten and answer.rewritten.strip() != answer.question.strip():
        said = esc(say("searched_for", answer.lang))
        parts.append(f'<div class="qa-rewritten" dir="auto">{said} <q dir="auto">{esc(answer.rewritten)}</q></div>')
    if answer.refused:
        parts.append('<div class="qa-badge qa-badge-refused">Not answered: the articles do not say</div>')
    elif extractive:
        parts.append(
            '<div class="qa-badge qa-badge-extractive">Extractive answer: sentences quoted from the '
            "articles, not written by a language model</div>"
        )
    if answer.confidence is not None:
        parts.append(confidence_badge(answer.confidence, answer.lang))
    titles = [p.name for p in answer.passages]
    text = mark_reckoned(link_markers(paragraphs(esc(answer.text)), turn, len(answer.passages), titles))
    parts.append(f'<div class="qa-text" dir="auto">{text}</div>')
    parts.append(f'<div class="qa-foot">{esc(answer_footer(answer))}</div>')
    parts.append(copy_button(answer_markdown(answer)))
    parts.append("</div>")
    return "".join(parts)


def confidence_badge(confidence: float, lang: str | None) -> str:
    """How sure the answer is, in words and a colour; the calibrated figure on hover."""
    likely = confidence >= UNCERTAIN
    word = say("likely_right" if likely else "uncertain_badge", lang)
    kind = "qa-likely" if likely else "qa-uncertain"
    return (
        f'<div class="qa-badge qa-confidence {kind}" dir="auto" title="confidence {confidence:.2f}">{esc(word)}</div>'
    )


def copy_button(markdown: str) -> str:
    """A button that copies the answer with its quoted sources as Markdown (``static/page.js`` handles it).

    The Markdown travels as the text of a hidden element beside it: the chat's sanitiser drops ``data-*``
    attributes but keeps classes and text.
    """
    return (
        f'<div class="qa-md">{esc(markdown)}</div>'
        '<button type="button" class="qa-copy" title="Copy the answer and its quoted sources as Markdown">'
        "Copy</button>"
    )


def answer_footer(answer: Answer) -> str:
    cited = len({c.n for c in answer.citations})
    bits = []
    if answer.refused:
        bits.append(
            f"{len(answer.passages)} related passages under Sources" if answer.passages else "no passages found"
        )
    else:
        bits.append(f"{cited} source{'s' if cited != 1 else ''} cited")
    if answer.dropped:
        bits.append(f"{answer.dropped} unsupported sentence{'s' if answer.dropped != 1 else ''} removed")
    total = answer.timings.get("total_s") if answer.timings else None
    if isinstance(total, (int, float)):
        bits.append(f"{total:.1f} s" if total >= 0.1 else "under 0.1 s")
    if answer.note:
        bits.append(answer.note)
    return " · ".join(bits)


def quote_spans(
    passage_text: str, passage_start: int, citations: Iterable[Citation]
) -> tuple[list[Span], list[Citation]]:
    """Where each citation's quote sits inside the passage, merged; and the citations that could not be placed.

    Citation offsets are in the article; the passage starts at ``passage_start`` in the same article. Stale
    offsets (the article changed since) fall back to searching the passage for the quote.
    """
    spans: list[Span] = []
    unplaced = []
    for c in citations:
        s, e = c.start - passage_start, c.end - passage_start
        if not (0 <= s < e <= len(passage_text) and passage_text[s:e] == c.quote):
            s = passage_text.find(c.quote) if c.quote else -1
            e = s + len(c.quote)
        if s < 0 or not c.quote:
            unplaced.append(c)
            continue
        spans.append((s, e, bool(c.verified)))
    spans.sort()
    merged: list[Span] = []
    for s, e, ok in spans:
        if merged and s <= merged[-1][1]:
            ps, pe, pok = merged[-1]
            merged[-1] = (ps, max(pe, e), pok and ok)
        else:
            merged.append((s, e, ok))
    return merged, unplaced


def highlight(text: str, spans: Sequence[Span]) -> str:
    """Escaped ``text`` with each span wrapped in ``<mark>`` (spans must be sorted and disjoint)."""
    out, pos = [], 0
    for s, e, ok in spans:
        cls = "qa-quote" if ok else "qa-quote qa-unverified"
        tip = "" if ok else ' title="not found word for word in the article"'
        out.append(esc(text[pos:s]))
        out.append(f'<mark class="{cls}"{tip}>{esc(text[s:e])}</mark>')
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def render_sources(answer: Answer, turn: int) -> str:
    """One turn of the sources panel: cited passages first (open, quote highlighted), then the others."""
    if not answer.passages:
        return '<p class="qa-note">No passages were found for this question.</p>'
    by_n: dict[int, list[Citation]] = {}
    for c in answer.citations:
        by_n.setdefault(c.n, []).append(c)
    numbers = range(1, len(answer.passages) + 1)
    cited = [n for n in numbers if n in by_n]
    others = [n for n in numbers if n not in by_n]
    parts = []
    if answer.refused:
        parts.append('<p class="qa-note">None of these passages answers the question; they are the closest ones.</p>')
    parts += [render_source(answer.passages[n - 1], n, turn, by_n[n]) for n in cited]
    if cited and others:
        parts.append('<p class="qa-subhead">Also retrieved, not cited:</p>')
    parts += [render_source(answer.passages[n - 1], n, turn, []) for n in others]
    return "".join(parts)


def render_source(p: Passage, n: int, turn: int, citations: list[Citation]) -> str:
    """Passage n as a foldable block, open when cited, with each quote highlighted where it occurs."""
    lead = len(p.text) - len(p.text.lstrip())
    text = p.text.strip()
    spans, unplaced = quote_spans(text, p.start + lead, citations)
    pages = (p.page, p.page_at(p.end - 1))
    page = None if p.page is None else f"p. {p.page}" if pages[0] == pages[1] else f"pp. {pages[0]}–{pages[1]}"
    meta = " · ".join(x for x in (p.date, page, p.lang, p.source if p.name != p.source else None) if x)
    extras = dict.fromkeys(line for c in citations for line in citation_extras(c))
    return (
        f'<details class="qa-src{" qa-cited" if citations else ""}" id="{source_id(turn, n)}" '
        f'data-source="{esc(p.source)}"{" open" if citations else ""}><summary><span class="qa-n">[{n}]</span> '
        f'<span class="qa-title" dir="auto">{esc(p.name)}</span> '
        f'<span class="qa-meta" dir="ltr">{esc(meta)}</span></summary>'
        f'<div class="qa-passage" dir="{text_dir(p.lang)}"{lang_attr(p.lang)}>{highlight(text, spans)}</div>'
        + "".join(f'<p class="qa-unplaced" dir="auto">Quoted: “{esc(c.quote)}”</p>' for c in unplaced)
        + "".join(f'<p class="qa-extra" dir="auto">{esc(line)}</p>' for line in extras)
        + "</details>"
    )


def render_panel(turns: Sequence[tuple[str, str]]) -> str:
    """All turns' sources, newest first and open; older turns folded (their ``[n]`` links still open them)."""
    if not turns:
        return (
            '<div class="qa-sources qa-empty">Ask a question: the passages an answer cites appear here, '
            "with the quoted words highlighted.</div>"
        )
    parts = ['<div class="qa-sources">']
    for i in range(len(turns) - 1, -1, -1):
        question, inner = turns[i]
        head = f'<span class="qa-turn-q" dir="auto">{esc(question)}</span>'
        if i == len(turns) - 1:
            parts.append(f'<section class="qa-turn qa-latest" id="turn-{i + 1}"><h4>{head}</h4>{inner}</section>')
        else:
            parts.append(f'<details class="qa-turn" id="turn-{i + 1}"><summary>{head}</summary>{inner}</details>')
    parts.append("</div>")
    return "".join(parts)


def article_rows(articles: Iterable[ArticleInfo]) -> list[list[str | int]]:
    """The articles table: one row per article (the table shows its "str" cells as text, not HTML)."""
    return [
        [a.name, a.source, a.lang or "", a.date or "", a.passages, "\n".join(r.source for r in a.copies)]
        for a in articles
    ]


def source_choices(articles: Iterable[ArticleInfo]) -> list[str]:
    """What the Filters' source list offers: each web site once (its host), and each file by name."""
    return sorted({urlsplit(a.path).hostname or a.source if "://" in a.path else a.source for a in articles})


def article_choices(articles: Iterable[ArticleInfo]) -> list[tuple[str, str]]:
    """(label, stored path) pairs for the delete dropdown: people pick by name, the store deletes by path."""
    return [(f"{a.name} — {a.source}" if a.name != a.source else a.source, a.path) for a in articles]


def conversation_choices(conversations: Iterable[Conversation], width: int = 70) -> list[tuple[str, str]]:
    """(label, id) pairs for the list of saved conversations: the title, shortened, and when it was last continued.

    The list shows labels as text, so nothing here needs escaping.
    """

    def label(c: Conversation) -> str:
        title = c.title if len(c.title) <= width else c.title[: width - 1] + "…"
        return f"{title} · {time.strftime('%d %b %H:%M', time.localtime(c.updated))}"

    return [(label(c), c.id) for c in conversations]
