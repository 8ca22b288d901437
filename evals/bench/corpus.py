"""The benchmarks' corpus: real sentences (every XQuAD language, read by path, and the bundled articles) drawn
with a fixed seed into generated articles, so any size can be built on the fly and never committed."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.chunk import chunk
from ingest.load import load
from qa.config import BUNDLED_ARTICLES
from qa.errors import InputError
from qa.text import split_sentences
from qa.types import Passage

SEED = 8
ARTICLE_TOKENS = 800  # about four passages per generated article
PASSAGE_STEP = 180  # new tokens per passage: ~200 minus the one-sentence overlap
MAX_BYTES = 5_000_000


def sentence_pool(data: Path, articles: Path | None = BUNDLED_ARTICLES) -> dict[str, list[str]]:
    """Every sentence of every XQuAD language (and of the bundled articles), by language, in text order."""
    files = sorted(data.glob("xquad.*.json"))
    if not files:
        raise InputError(f"no xquad.<lang>.json files in {data}; pass --data DIR")
    pool: dict[str, list[str]] = {}
    for path in files:
        lang = path.name.split(".")[1]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            contexts = [p["context"] for a in doc["data"] for p in a["paragraphs"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"cannot read {path} as XQuAD ({e.__class__.__name__}); pass --data DIR") from None
        pool[lang] = [c[s.start : s.end] for c in contexts for s in split_sentences(c, lang)]
    for path in sorted(articles.glob("*")) if articles else []:
        article = load(path, MAX_BYTES)
        pool.setdefault(article.lang or "und", []).extend(
            article.text[s.start : s.end] for s in split_sentences(article.text, article.lang)
        )
    return pool


@dataclass(frozen=True)
class GeneratedArticle:
    name: str
    lang: str
    text: str


def make_corpus(
    pool: dict[str, list[str]],
    passages: int,
    seed: int,
    count_tokens: Callable[[str], int],
    article_tokens: int = ARTICLE_TOKENS,
) -> list[GeneratedArticle]:
    """Articles of about ``article_tokens`` tokens until ``passages`` passages of ~200 tokens are covered.

    Each article is one language's sentences drawn at random (the same seed gives the same corpus), so
    articles read as real text in one language; sentences recur across articles once the pool is used up.
    """
    if passages < 1:
        raise InputError(f"--passages must be at least 1, not {passages}")
    rng = random.Random(seed)
    langs = sorted(pool)
    out: list[GeneratedArticle] = []
    covered = 0.0
    while covered < passages:
        lang = rng.choice(langs)
        sentences, tokens = [], 0
        while tokens < article_tokens:
            s = rng.choice(pool[lang])
            sentences.append(s)
            tokens += count_tokens(s)
        out.append(GeneratedArticle(name=f"{len(out):06d}-{lang}.txt", lang=lang, text=" ".join(sentences)))
        covered += tokens / PASSAGE_STEP
    return out


def write_corpus(folder: Path, articles: Sequence[GeneratedArticle]) -> Path:
    """The articles as .txt files in ``folder`` (rewritten only when their text changed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for a in articles:
        path = folder / a.name
        if not path.exists() or path.read_text(encoding="utf-8") != a.text:
            path.write_text(a.text, encoding="utf-8")
    return folder


def chunked(folder: Path, count_tokens: Callable[[str], int]) -> list[Passage]:
    """The passages ``python -m ingest`` makes of ``folder`` (same loader, same chunker)."""
    return [p for f in sorted(folder.glob("*.txt")) for p in chunk(load(f, MAX_BYTES), count_tokens)]
