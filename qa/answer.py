"""The :class:`Assistant`: the one object the CLI, the page and the evals talk to."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Config
from qa.embed import Embedder
from qa.errors import InputError
from qa.retrieve import Retriever, check_k, check_question
from qa.store import Store, open_store
from qa.types import Passage

if TYPE_CHECKING:
    from ingest.sync import SyncReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArticleInfo:
    """One ingested article as the store knows it (for lists and deletion)."""

    source: str
    path: str
    title: str | None
    date: str | None
    lang: str | None
    passages: int

    def to_dict(self) -> dict:
        return {"source": self.source, "path": self.path, "title": self.title, "date": self.date,
                "lang": self.lang, "passages": self.passages}


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int
    languages: dict[str, int]
    embedder: str
    store: str

    def to_dict(self) -> dict:
        return {"articles": self.articles, "passages": self.passages, "languages": self.languages,
                "embedder": self.embedder, "store": self.store}


class Assistant:
    def __init__(self, config: Config, embedder: Embedder, store: Store) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.retriever = Retriever(store, embedder)

    @classmethod
    def from_env(cls, create: bool = False, **overrides) -> "Assistant":
        """Build from ``QA_*`` variables; keyword arguments (``store=``, ``llm=``, ...) override them."""
        config = Config.from_env(**overrides)
        embedder = Embedder(cache_path=config.cache_dir / "embeddings.sqlite")
        return cls(config, embedder, open_store(config, embedder.name, embedder.dim, create=create))

    def search(self, question: str, k: int = 5) -> list[Passage]:
        """The ``k`` passages closest in meaning to the question, best first, in any language."""
        return self.retriever.search(check_question(question), check_k(k))

    def articles(self) -> list[ArticleInfo]:
        """Every ingested article, sorted by file name."""
        by_path: dict[str, list[dict]] = {}
        for m in self.store.all_metadata().values():
            by_path.setdefault(m["path"], []).append(m)
        out = [ArticleInfo(source=ms[0]["source"], path=path, title=ms[0].get("title"), date=ms[0].get("date"),
                           lang=ms[0].get("lang"), passages=len(ms)) for path, ms in by_path.items()]
        return sorted(out, key=lambda a: (a.source, a.path))

    def add_files(self, paths: list[Path], progress: bool = False) -> SyncReport:
        """Ingest files or folders into this assistant's store (incremental; see ``ingest.sync``)."""
        from ingest.sync import sync

        return sync(paths, self.store, self.embedder, self.config, progress=progress)

    def delete_article(self, path: str) -> int:
        """Remove one article's passages (``path`` as listed by :meth:`articles`); returns how many."""
        from ingest.sync import write_lock

        with write_lock(self.config).acquire(timeout=30):
            ids = self.store.collection.get(where={"path": path}, include=[])["ids"]
            if not ids:
                raise InputError(f"no ingested article has the path {path!r}")
            self.store.collection.delete(ids=ids)
        return len(ids)

    def stats(self) -> Stats:
        arts = self.articles()
        return Stats(articles=len(arts), passages=sum(a.passages for a in arts),
                     languages=dict(Counter(a.lang or "?" for a in arts).most_common()),
                     embedder=self.embedder.name, store=self.store.location)
