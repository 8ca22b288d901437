"""qa: answers questions about a collection of news articles, in any language, with checked citations.

>>> from qa import Assistant
>>> assistant = Assistant.from_env()
>>> assistant.search("Where are European leaders meeting on Thursday?", k=3)

Importing ``qa`` changes nothing in the process: the entry points call ``qa.config.offline_environment``.
"""

from __future__ import annotations

from qa.answer import Assistant
from qa.types import Answer, Article, Citation, Passage

__all__ = ["Assistant", "Answer", "Article", "Citation", "Passage"]
