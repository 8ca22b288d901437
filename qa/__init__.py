"""qa: answers questions about a collection of news articles, in any language, with checked citations.

>>> from qa import Assistant
>>> assistant = Assistant.from_env()
>>> assistant.search("Where are European leaders meeting on Thursday?", k=3)

Importing ``qa`` changes nothing in the process: the entry points call ``qa.config.offline_environment``.
It loads nothing heavy either: ``Assistant`` (the store, the embedder, llama-index) is imported on first use,
so ``python -m qa --help`` starts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.types import Answer, Article, Citation, Passage

if TYPE_CHECKING:
    from qa.answer import Assistant

__all__ = ["Assistant", "Answer", "Article", "Citation", "Passage"]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from qa.answer import Assistant

        return Assistant
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
