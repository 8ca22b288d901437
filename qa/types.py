"""The small values that cross module boundaries: what ingest produces and what an answer carries."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from qa.errors import FileRejected


class AnswerMode(StrEnum):
    """How an answer was made (the ``mode`` of ``qa ask --json``)."""

    LLM = "llm"  # a sentence phrased by the language model, verified against the quote, then the quote
    EXTRACTIVE = "extractive"  # quotes only
    ERROR = "error"  # no answer: the question failed (evals record these)


class LLMState(StrEnum):
    """Where a language model is in its life: the page shows it while the local model starts."""

    NOT_STARTED = "not started"
    PREPARING = "preparing model (first run downloads ~1.1 GB)"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Article:
    """One source file, read and cleaned: ``text`` is what every character offset refers to."""

    source: str  # the file name, shown to users and in citations
    path: str  # absolute path: the article's identity in the store
    text: str
    sha256: str
    title: str | None = None
    date: str | None = None  # ISO at its precision: 2024-11-21, 2024-11 or 2024
    lang: str | None = None
    date_precision: str | None = None  # day, month or year
    date_origin: str | None = None  # where the date was found: html-metadata, date-line, dateline, feed
    # Pages fetched from the web (``path`` and ``source`` are then the URL asked for):
    author: str | None = None
    site: str | None = None  # the host, what ``--source example.org`` matches
    site_name: str | None = None  # as the page names itself ("Lagoon Daily")
    url: str | None = None  # the canonical URL the page states
    etag: str | None = None  # validators sent back on the next fetch: an unchanged page is not downloaded again
    last_modified: str | None = None
    feed: str | None = None  # the feed whose entry linked to it
    from_summary: bool = False  # the page could not be fetched: the text is the feed entry's summary
    page_starts: tuple[int, ...] = ()  # a PDF: where each page starts in ``text`` (page 1 at 0)
    label: str | None = None  # what people read as its name: the title, else the first words of its lead


def article_name(label: str | None, title: str | None, source: str) -> str:
    """An article as people read its name: its label, else its title, else its file or URL."""
    return label or title or source


@dataclass(frozen=True)
class Reprint:
    """Another publication of a stored article's story (a syndicated copy, folded into it at ingest)."""

    source: str  # the copy's URL
    date: str | None = None  # ISO at its precision, when the copy states one
    site: str | None = None


def reprints_to_metadata(reprints: list[Reprint]) -> str:
    """Copies as one metadata value (a store keeps scalars): a JSON list, earliest first, undated last."""
    ordered = sorted(reprints, key=lambda r: (r.date is None, r.date or "", r.source))
    return json.dumps([asdict(r) for r in ordered], ensure_ascii=False)


def reprints_from_metadata(stored: object) -> tuple[Reprint, ...]:
    """The value :func:`reprints_to_metadata` wrote; anything malformed counts as no copies."""
    try:
        items = json.loads(stored) if isinstance(stored, str) else []
    except json.JSONDecodeError:
        return ()
    return tuple(
        Reprint(str(c["source"]), c.get("date"), c.get("site"))
        for c in (items if isinstance(items, list) else [])
        if isinstance(c, dict) and c.get("source")
    )


@dataclass(frozen=True)
class TimeRef:
    """A relative time in a quote ("on Thursday", "last month") and the date it means, reckoned from the
    article's publication date. ``start``/``end`` are offsets in the quote."""

    text: str
    start: int
    end: int
    date: str  # ISO at the precision the words state: 2024-11-14, 2024-10 or 2024


@dataclass(frozen=True)
class Passage:
    """A span ``text == article.text[start:end]`` of one article, with the score of the last search."""

    id: str
    source: str
    path: str
    text: str
    start: int
    end: int
    title: str | None = None
    date: str | None = None
    lang: str | None = None
    score: float = 0.0
    page: int | None = None  # a PDF's page where the passage starts (1-based)
    page_starts: tuple[int, ...] = ()  # article offsets inside the passage where a later page begins
    copies: tuple[Reprint, ...] = ()  # the article's syndicated copies, published later or undated
    label: str | None = None  # the article's title, else the first words of its lead (``qa.text.lead_label``)

    @property
    def name(self) -> str:
        return article_name(self.label, self.title, self.source)

    def page_at(self, offset: int) -> int | None:
        """The PDF page of an article offset inside this passage (None for other articles)."""
        if self.page is None:
            return None
        return self.page + sum(1 for s in self.page_starts if s <= offset)

    def to_dict(self, n: int) -> dict:
        return {
            "n": n,
            "source": self.source,
            "title": self.title,
            "label": self.name,
            "date": self.date,
            "lang": self.lang,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": round(float(self.score), 4),
            "page": self.page,
            "copies": [asdict(c) for c in self.copies],
        }


@dataclass(frozen=True)
class Citation:
    """A ``[n]`` of an answer and the quote in passage n that supports it (offsets are in the article)."""

    n: int
    source: str
    quote: str
    start: int
    end: int
    verified: bool
    title: str | None = None
    date: str | None = None
    lang: str | None = None
    page: int | None = None  # a PDF's page the quote starts on
    copies: tuple[Reprint, ...] = ()  # where else the story was published (later, or undated)
    times: tuple[TimeRef, ...] = ()  # the quote's relative times, with the dates they mean
    label: str | None = None  # the article's title, else the first words of its lead

    @property
    def name(self) -> str:
        return article_name(self.label, self.title, self.source)

    def to_dict(self) -> dict:
        """As JSON has it (lists, not tuples), so that a citation read back from JSON compares equal."""
        return {**asdict(self), "copies": [asdict(c) for c in self.copies], "times": [asdict(t) for t in self.times]}


@dataclass(frozen=True)
class Phrasing:
    """What is shown before the quote: ``text`` in the question's language, ``copied`` the words the model copied
    from the quote (checked word for word), ``translated`` when ``text`` is a machine translation of them."""

    text: str
    copied: str
    translated: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What the user gets: text with ``[n]`` markers that index ``passages`` (1-based)."""

    question: str
    text: str
    refused: bool
    mode: AnswerMode
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    claims: int = 0
    verified: int = 0
    dropped: int = 0
    rewritten: str | None = None  # the stand-alone question searched for, when history changed it
    note: str | None = None  # why the answer is extractive or refused, e.g. the LLM's failure
    phrasing: Phrasing | None = None  # the model's words shown before the quote, when they held up
    lang: str | None = None  # the question's language (ISO 639-1), which the assistant's own words are in
    # The calibrated probability that the first quote answers the question (None for a refusal); below
    # ``qa.answer.UNCERTAIN`` the answer says it is uncertain and shows no answer line.
    confidence: float | None = None

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict(i) for i, p in enumerate(self.passages, 1)],
            "timings": dict(self.timings),
            "counts": {"claims": self.claims, "verified": self.verified, "dropped": self.dropped},
            "rewritten": self.rewritten,
            "note": self.note,
            "phrasing": self.phrasing.to_dict() if self.phrasing else None,
            "lang": self.lang,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    passages: int = 0  # passages written
    embedded: int = 0  # passages that reached the embedding engine (cache misses)
    sentences: int = 0  # sentences embedded ahead of questions, after every passage was written
    seconds: float = 0.0
    searchable_seconds: float = 0.0  # until every passage was written (searchable); sentences come after
    failed: list[FileRejected] = field(default_factory=list)
    # syndicated copies of stored articles, not stored again: {"path", "copy_of", "similarity"}
    copies: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.passages / self.seconds if self.seconds else 0.0
        return (
            f"{self.added} added, {self.updated} updated, {self.deleted} deleted, {self.skipped} skipped, "
            f"{len(self.failed)} failed; {self.passages} passages written ({self.embedded} embedded) "
            f"in {self.seconds:.1f} s, {rate:.1f} passages/s"
        )

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "passages": self.passages,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
            "searchable_seconds": round(self.searchable_seconds, 3),
            "sentences": self.sentences,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "copies": list(self.copies),
        }


class Library(Protocol):
    """What changes the articles of a store: ingest (``ingest.sync.Ingester``), injected into faces that let
    users add or delete articles (the page), so the library never imports the ingest package."""

    def add(self, paths: list[Path], progress: bool = False) -> SyncReport:
        """Ingest files or folders (incrementally) and say what happened to each."""
        ...

    def delete(self, path: str) -> int:
        """Remove one article (by its stored path); the number of passages removed."""
        ...
