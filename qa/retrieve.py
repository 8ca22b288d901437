"""Find the passages closest to a question: a llama-index retriever over the Chroma collection.

The embedder is injected (no global ``Settings``); Chroma's ``exp(-distance)`` similarity is turned back
into cosine similarity so scores mean the same thing everywhere (CLI, thresholds, evals).
"""
from __future__ import annotations

import math
import unicodedata

from llama_index.core import VectorStoreIndex
from llama_index.vector_stores.chroma import ChromaVectorStore

from qa.embed import E5Embedding, Embedder
from qa.errors import InputError
from qa.store import Store
from qa.types import Passage

MAX_QUESTION_CHARS = 2000
MAX_K = 50


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
        vector_store = ChromaVectorStore(chroma_collection=store.collection)
        self._index = VectorStoreIndex.from_vector_store(vector_store, embed_model=E5Embedding(embedder))

    def search(self, question: str, k: int) -> list[Passage]:
        nodes = self._index.as_retriever(similarity_top_k=k).retrieve(question)
        return [to_passage(n.node.node_id, n.node.get_content(), n.node.metadata, n.score) for n in nodes]


def to_passage(pid: str, text: str, meta: dict, similarity: float | None) -> Passage:
    cosine = 1.0 + math.log(similarity) if similarity and similarity > 0 else 0.0
    return Passage(id=pid, source=meta["source"], path=meta.get("path", meta["source"]), text=text,
                   start=int(meta["start"]), end=int(meta["end"]), title=meta.get("title"), date=meta.get("date"),
                   lang=meta.get("lang"), score=cosine)
