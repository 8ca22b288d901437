"""qa: answers questions about a collection of news articles, in any language, with checked citations.

>>> from qa import Assistant
>>> assistant = Assistant.from_env()
>>> assistant.search("Where are European leaders meeting on Thursday?", k=3)
"""
from __future__ import annotations

import os

# Offline by construction: nothing may phone home or fetch a model at run time.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _tiktoken_cache() -> None:
    """llama-index counts tokens with tiktoken, whose vocabulary would be downloaded unless pointed here."""
    from importlib.util import find_spec

    spec = find_spec("llama_index.core")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "_static", "tiktoken_cache")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", path)


_tiktoken_cache()

from qa.answer import Assistant  # noqa: E402
from qa.types import Answer, Article, Citation, Passage  # noqa: E402

__all__ = ["Assistant", "Answer", "Article", "Citation", "Passage"]
