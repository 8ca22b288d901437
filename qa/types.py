"""The small values that cross module boundaries: what ingest produces and what an answer carries."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Article:
    """One source file, read and cleaned: ``text`` is what every character offset refers to."""

    source: str  # the file name, shown to users and in citations
    path: str  # absolute path: the article's identity in the store
    text: str
    sha256: str
    title: str | None = None
    date: str | None = None
    lang: str | None = None


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

    def to_dict(self, n: int) -> dict:
        return {"n": n, "source": self.source, "title": self.title, "date": self.date, "lang": self.lang,
                "text": self.text, "start": self.start, "end": self.end, "score": round(float(self.score), 4)}


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What the user gets: text with ``[n]`` markers that index ``passages`` (1-based)."""

    question: str
    text: str
    refused: bool
    mode: str  # "llm" or "extractive"
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    claims: int = 0
    verified: int = 0
    dropped: int = 0
    rewritten: str | None = None  # the stand-alone question searched for, when history changed it
    note: str | None = None  # why the answer is extractive or refused, e.g. the LLM's failure

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "refused": self.refused, "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict(i) for i, p in enumerate(self.passages, 1)],
            "timings": dict(self.timings),
            "counts": {"claims": self.claims, "verified": self.verified, "dropped": self.dropped},
            "rewritten": self.rewritten, "note": self.note,
        }
