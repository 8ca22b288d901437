"""The :class:`Assistant`: the one object the CLI, the page and the evals talk to."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from qa.config import Config
from qa.embed import Embedder
from qa.retrieve import Retriever, check_k, check_question
from qa.store import Store, open_store
from qa.types import Passage

log = logging.getLogger(__name__)


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

    def stats(self) -> Stats:
        metas = self.store.all_metadata().values()
        by_article = {m["path"]: m.get("lang") or "?" for m in metas}
        return Stats(articles=len(by_article), passages=len(metas),
                     languages=dict(Counter(by_article.values()).most_common()),
                     embedder=self.embedder.name, store=self.store.location)
