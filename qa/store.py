"""The Chroma collection that holds passages: opened locally (PersistentClient) or on a server (HttpClient).

The collection records the embedder that filled it; opening it with another embedder is refused, because
its vectors would silently rank garbage. Chroma never embeds anything itself: we always pass vectors.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from llama_index.vector_stores.chroma import ChromaVectorStore

from qa.config import Config
from qa.errors import EmbedderMismatch, StoreError

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 400, "max_neighbors": 32}
LOCK_WAIT_S = 15.0  # how long a store whose database another program holds is waited for before giving up
META_KEYS = ("source", "path", "title", "date", "lang", "start", "end", "article_sha", "chunk", "chunks")


MAX_WRITE = 1000  # rows per Chroma write: well under its max_batch_size (5461 locally), steady memory


@dataclass(frozen=True)
class StoredRows:
    """Rows read back from the store, in one order: ids, texts, metadata and (when asked for) vectors."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    embeddings: np.ndarray | None = None


class Store:
    """The one place that calls Chroma: every read and write of passages goes through these methods.

    A second backend (another vector database) would implement the same methods.
    """

    def __init__(self, collection: Collection, location: str) -> None:
        self._collection = collection
        self.location = location

    @property
    def metadata(self) -> dict[str, Any]:
        """The collection's own metadata (the embedder that filled it)."""
        return dict(self._collection.metadata or {})

    @property
    def hnsw(self) -> dict[str, Any]:
        """The vector index's settings as Chroma stored them."""
        return dict(self._collection.configuration_json.get("hnsw") or {})

    def count(self) -> int:
        return int(self._collection.count())

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """id -> metadata of every passage (paged, so large stores do not hit request limits)."""
        out: dict[str, dict[str, Any]] = {}
        offset, page = 0, 5000
        while True:
            got = self._collection.get(include=["metadatas"], limit=page, offset=offset)
            out.update(zip(got["ids"], [dict(m or {}) for m in got["metadatas"] or []]))
            if len(got["ids"]) < page:
                return out
            offset += page

    def ids(self, path: str | None = None, where: dict[str, Any] | None = None) -> list[str]:
        """Ids of one article's passages (by its ``path`` metadata), of those matching ``where``, or of all."""
        return list(self._collection.get(where=where or _where(path), include=[])["ids"])

    def rows(self, ids: Sequence[str] | None = None, path: str | None = None, embeddings: bool = False) -> StoredRows:
        """Passages by id, by article path, or all of them, with their vectors when asked (paged)."""
        include: list[Any] = ["documents", "metadatas", "embeddings"] if embeddings else ["documents", "metadatas"]
        where = _where(path)
        out_ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        vecs: list[np.ndarray] = []
        page = 5000
        while True:
            got = self._collection.get(
                ids=list(ids) if ids is not None else None,
                where=where,
                include=include,
                limit=page,
                offset=len(out_ids),
            )
            out_ids += got["ids"]
            docs += list(got["documents"] or [])
            metas += [dict(m or {}) for m in got["metadatas"] or []]
            if embeddings:
                vecs.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1))
            if len(got["ids"]) < page or ids is not None:
                break
        vectors = np.vstack(vecs) if embeddings and vecs else None
        return StoredRows(out_ids, docs, metas, vectors)

    def add(
        self, ids: Sequence[str], documents: Sequence[str], embeddings: np.ndarray, metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Write passages with their vectors, ``MAX_WRITE`` rows per call.

        Callers write only ids that are not stored yet: upserting unchanged rows again breaks Chroma's local
        vector index (see ``ingest.sync``), so this is ``add``, never ``upsert``.
        """
        for i in range(0, len(ids), MAX_WRITE):
            j = i + MAX_WRITE
            self._collection.add(
                ids=list(ids[i:j]),
                documents=list(documents[i:j]),
                embeddings=np.asarray(embeddings[i:j], dtype=np.float32),
                metadatas=[dict(m) for m in metadatas[i:j]],
            )

    def annotate(self, ids: Sequence[str], fields: dict[str, Any]) -> None:
        """Set metadata ``fields`` on these passages, keeping their other metadata, text and vectors as they are
        (Chroma merges an update's metadata into the stored one)."""
        for i in range(0, len(ids), MAX_WRITE):
            part = list(ids[i : i + MAX_WRITE])
            self._collection.update(ids=part, metadatas=[dict(fields) for _ in part])

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), MAX_WRITE):
            self._collection.delete(ids=list(ids[i : i + MAX_WRITE]))

    def query(self, vectors: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[list[str]]:
        """Ids of the ``k`` nearest passages of each vector, nearest first (Chroma's HNSW index)."""
        got = self._collection.query(
            query_embeddings=np.asarray(vectors, dtype=np.float32), n_results=k, where=where, include=[]
        )
        return [list(row) for row in got["ids"]]

    def vector_store(self) -> ChromaVectorStore:
        """This collection as a llama-index vector store, for llama-index's retrievers."""
        return ChromaVectorStore(chroma_collection=self._collection)


def _where(path: str | None) -> Any:
    """Chroma's filter for one article's passages (by its stored path), or no filter."""
    return {"path": path} if path is not None else None


def _client(config: Config, create: bool):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if config.chroma_url:
        url = urlparse(config.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https", settings=settings
            )
            client.heartbeat()
        except Exception as e:
            raise StoreError(
                f"cannot reach the Chroma server at {config.chroma_url} ({e.__class__.__name__}). "
                "Start it with `chroma run --path DIR --port N` or unset QA_CHROMA_URL."
            ) from None
        return client
    path = Path(config.store)
    if path.exists() and not path.is_dir():
        raise StoreError(f"the store path {path} is a file, not a folder; pass --store with a folder")
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path}: run `python -m ingest` first (or pass --store)")
        try:
            path.mkdir(parents=True)
        except OSError as e:
            raise StoreError(f"cannot create the store folder {path}: {e.strerror}") from None
    if not os.access(path, os.W_OK):  # Chroma's SQLite writes beside its database even to read it
        raise StoreError(f"the store folder {path} is not writable; fix its permissions or pass another --store")
    _check_not_locked(path / "chroma.sqlite3")
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as e:
        raise StoreError(
            f"cannot open the store at {path}: {e}. If it is damaged, move it aside and ingest again."
        ) from None


def _check_not_locked(db: Path) -> None:
    """Chroma waits forever for a database another program holds locked; we wait ``LOCK_WAIT_S``, then say so.

    Taking the write lock for an instant (and releasing it) waits out a concurrent writer's short
    transactions, and changes nothing in the file.
    """
    if not db.is_file():
        return
    try:
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=LOCK_WAIT_S, isolation_level=None)
    except sqlite3.Error:
        return  # not openable at all: Chroma's own error says more
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreError(
                f"the store at {db.parent} is locked by another program (its database stayed "
                f"locked for {LOCK_WAIT_S:.0f} s); close that program and try again"
            ) from None
    except sqlite3.Error:
        pass  # a damaged file: Chroma's own error says more
    finally:
        con.close()


def open_store(config: Config, embedder_name: str, dim: int, create: bool = False) -> Store:
    """Open (or with ``create``, make) the passage collection, refusing one built by another embedder."""
    client = _client(config, create)
    try:
        if create:
            col = client.get_or_create_collection(
                config.collection,
                configuration={"hnsw": HNSW},
                embedding_function=None,
                metadata={"embedder": embedder_name, "dim": dim},
            )
        else:
            col = client.get_collection(config.collection, embedding_function=None)
    except StoreError:
        raise
    except Exception as e:
        if not create and "does not exist" in str(e).lower():
            raise StoreError(
                f"the store at {config.store_location} has no articles yet: run `python -m ingest` first"
            ) from None
        raise StoreError(f"cannot open collection {config.collection!r} at {config.store_location}: {e}") from None
    meta = col.metadata or {}
    if meta.get("embedder") != embedder_name or meta.get("dim") != dim:
        built = (
            f"was built with embedder {meta['embedder']!r} (dim {meta.get('dim')})"
            if meta.get("embedder")
            else "records no embedder (made by an older qa or another program)"
        )
        raise EmbedderMismatch(
            f"the store at {config.store_location} {built}, not {embedder_name!r} (dim {dim}). "
            "Ingest into a new --store, or delete this one and ingest again."
        )
    return Store(col, config.store_location)
