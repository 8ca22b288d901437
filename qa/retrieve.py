"""Find the passages that answer a question: a llama-index retriever over Chroma, reranked by sentence.

A passage of ~200 tokens often covers several stories (news round-ups do), so its vector is a blur; the
sentence that holds the fact is sharper. We take the nearest ``CANDIDATES`` passages from Chroma, score
each of their sentences against the question, and rank passages by their best sentence. The scored
sentences are returned too, as the evidence the answer is built from. Sentence vectors are cached by
content hash (ingest pre-computes them), so this costs one batched lookup.

A sentence's rank score corrects two measured biases of the small multilingual embedder:
- every sentence in the question's own language scores higher than any in another language, so the
  sentence that holds the fact in an Albanian article loses to loosely related English ones: each
  sentence's similarity is taken relative to the median similarity of the candidate sentences in its
  language;
- a single sentence is a small unit ("the reinforcements were sent in January" does not say what they
  reinforce), so the similarity of the passage around it is added with weight ``CONTEXT``.
What each choice gained on the eval cases, and what lost: ``docs/decisions.md`` (Retrieval).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from llama_index.core import VectorStoreIndex

from qa.embed import E5Embedding, Embedder
from qa.errors import InputError
from qa.instructions import INSTRUCTION
from qa.select import context_vectors
from qa.store import Store
from qa.text import split_sentences
from qa.types import Passage, reprints_from_metadata
from qa.vectors import cosines, dots

MAX_QUESTION_CHARS = 2000
MAX_K = 50
CANDIDATES = 20  # passages kept for the sentence rerank
# Fetched beyond CANDIDATES so that the nearest CANDIDATES by our exact cosine are among them whatever the
# order Chroma's CPU-dependent float32 distances gave passages near the cut (``qa.vectors``).
FETCH_MARGIN = 5
MIN_WORDS = 4  # shorter lines (a lone "Comments", a byline) are page furniture, not evidence...
MIN_CHARS = 25  # ...unless it has this many Chinese, Japanese or Korean characters (no spaces between words)
CONTEXT = 0.4  # weight of the passage's own similarity in its sentences' rank scores (0.3-0.6 rank alike)


@dataclass(frozen=True)
class Scored:
    """An evidence sentence: passage number (1-based), span inside the passage, rank score (relative: only
    comparable within one search) and raw cosine similarity to the question (comparable across searches)."""

    n: int
    start: int
    end: int
    score: float
    similarity: float
    vector: np.ndarray = field(compare=False, repr=False)  # the sentence's embedding
    context: np.ndarray = field(compare=False, repr=False)  # with its neighbours' (``qa.select.context_vectors``)
    passage_similarity: float = 0.0  # raw cosine of its passage to the question


def check_question(question: object) -> str:
    """The question, stripped, or an :class:`InputError` saying what is wrong with it."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    q = question.strip()
    if not q:
        raise InputError("the question is empty; type a question about the articles")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(q):,} characters long; keep it under {MAX_QUESTION_CHARS:,}")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in q):
        raise InputError("the question contains unpaired surrogate characters; retype it as plain text")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in q):
        raise InputError("the question contains control characters; retype it as plain text")
    if not any(c.isalnum() for c in q):
        raise InputError("the question has no words in it; type a question about the articles")
    return q


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InputError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be from 1 to {MAX_K}, not {k}")
    return k


class Retriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.embedder = embedder
        self.store = store
        self._index = VectorStoreIndex.from_vector_store(store.vector_store(), embed_model=E5Embedding(embedder))

    def search(self, question: str, k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        return self.evidence(question, k, where=where)[0]

    def evidence(
        self, question: str, k: int, where: dict[str, Any] | None = None
    ) -> tuple[list[Passage], list[Scored]]:
        """The ``k`` best passages (score = their best sentence's) and all their sentences, best first.

        ``where`` (Chroma's metadata filter, see ``qa.filters``) restricts the nearest-neighbour query itself.
        """
        nodes = self._index.as_retriever(
            similarity_top_k=max(k, CANDIDATES) + FETCH_MARGIN, vector_store_kwargs={"where": where} if where else {}
        ).retrieve(question)
        # A long-lived process keeps the vector index Chroma loaded first; passages another process deleted
        # since come back from it without their metadata, and are gone for good: skip them.
        found = [n.node for n in nodes if "source" in n.node.metadata]
        if not found:
            return [], []
        qv = self.embedder.queries([question])[0]
        # Chroma's distances differ between CPUs in their last bits: each passage's cosine is computed again
        # from its stored vector (``qa.vectors``), and the nearest are kept in that order (ties: by id).
        stored = self.store.rows([n.node_id for n in found], embeddings=True)
        vector_of = dict(zip(stored.ids, stored.embeddings if stored.embeddings is not None else []))
        found = [n for n in found if n.node_id in vector_of]
        near = cosines(np.vstack([vector_of[n.node_id] for n in found]), qv) if found else np.zeros(0)
        nearest = sorted(range(len(found)), key=lambda i: (-near[i], found[i].node_id))[: max(k, CANDIDATES)]
        candidates = [
            to_passage(found[i].node_id, found[i].get_content(), found[i].metadata, float(near[i])) for i in nearest
        ]
        # A passage that gives orders to the assistant is not news: none of its sentences is evidence, so
        # its harmless neighbours cannot crowd real evidence out of the few sentences an answer looks at.
        spans = [
            (i, sp)
            for i, p in enumerate(candidates)
            if not INSTRUCTION.search(p.text)
            for sp in split_sentences(p.text, p.lang)
            if _evidence_like(p.text[sp.start : sp.end])
        ]
        vectors = self.embedder.passages([candidates[i].text[sp.start : sp.end] for i, sp in spans])
        context = context_vectors(vectors, [i for i, _ in spans])
        sims = dots(vectors, qv) if spans else np.zeros(0)
        ranks = rank_scores(
            sims.tolist(), [candidates[i].lang for i, _ in spans], [candidates[i].score for i, _ in spans]
        )
        by_sentence: dict[int, float] = {}
        scored: list[tuple[int, int, int, float, float, int]] = []
        for j, ((i, sp), sim, score) in enumerate(zip(spans, sims, ranks)):
            scored.append((i, sp.start, sp.end, score, float(sim), j))
            by_sentence[i] = max(by_sentence.get(i, score), score)
        # A passage with no sentence fit to be evidence ranks by its own similarity, like its sentences would.
        best = {i: by_sentence.get(i, CONTEXT * p.score) for i, p in enumerate(candidates)}
        order = _diverse(sorted(best, key=lambda i: (-best[i], i)), [c.source for c in candidates], k)
        number = {i: n for n, i in enumerate(order, 1)}
        passages = [replace(candidates[i], score=round(best[i], 4)) for i in order]
        sentences = [
            Scored(number[i], s, e, sc, sim, vectors[j], context[j], candidates[i].score)
            for i, s, e, sc, sim, j in scored
            if i in number
        ]
        return passages, _repeats_last(sorted(sentences, key=lambda x: (-x.score, x.n, x.start)), passages)


def _repeats_last(ranked: list[Scored], passages: Sequence[Passage]) -> list[Scored]:
    """``ranked`` with each sentence that a better-ranked one already is (passages overlap by a sentence, so the
    sentence at a passage's edge comes from both) moved after all the others: the selector's pool, the best few,
    then holds each sentence once, and every passage keeps its sentences for the quote's neighbour."""
    spans: set[tuple[str, int, int]] = set()
    first: list[Scored] = []
    repeats: list[Scored] = []
    for s in ranked:
        p = passages[s.n - 1]
        span = (p.path, p.start + s.start, p.start + s.end)
        (repeats if span in spans else first).append(s)
        spans.add(span)
    return first + repeats


def rank_scores(sims: Sequence[float], langs: Sequence[str | None], passage_scores: Sequence[float]) -> list[float]:
    """Each sentence's rank score: its similarity relative to the median of its language's sentences, plus
    ``CONTEXT`` x its passage's similarity (see the module docstring)."""
    median = {lang: float(np.median([x for x, l2 in zip(sims, langs) if l2 == lang])) for lang in set(langs)}
    return [float(sim) - median[lang] + CONTEXT * p for sim, lang, p in zip(sims, langs, passage_scores)]


def to_passage(pid: str, text: str, meta: dict, cosine: float) -> Passage:
    """A stored passage as a :class:`Passage` scored ``cosine`` (its cosine with the question)."""
    return Passage(
        id=pid,
        source=meta["source"],
        path=meta.get("path", meta["source"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=meta.get("title"),
        label=meta.get("label"),
        date=meta.get("date"),
        lang=meta.get("lang"),
        score=cosine,
        page=int(meta["page"]) if meta.get("page") is not None else None,
        page_starts=tuple(int(o) for o in str(meta.get("page_starts") or "").split(",") if o),
        copies=reprints_from_metadata(meta.get("copies")),
    )


def _diverse(order: list[int], sources: list[str], k: int) -> list[int]:
    """The first ``k`` of ``order``, at most ``max(1, (k + 1) // 3)`` per article while others are left.

    An article in the question's own language scores a little higher on everything, and would otherwise
    fill the list with its passages and push the article that holds the answer out of sight.
    """
    cap = max(1, (k + 1) // 3)
    count: dict[str, int] = {}
    first: list[int] = []
    rest: list[int] = []
    for i in order:
        count[sources[i]] = count.get(sources[i], 0) + 1
        (first if count[sources[i]] <= cap else rest).append(i)
    return (first + rest)[:k]


def _evidence_like(sentence: str) -> bool:
    unspaced = sum(1 for c in sentence if "\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af")
    return len(sentence.split()) >= MIN_WORDS or unspaced >= MIN_CHARS
