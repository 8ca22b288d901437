"""The Gradio page over an :class:`qa.Assistant`: ``Page(assistant, library, suffixes).create_app()``."""

from __future__ import annotations

from qa.web.page import Page

__all__ = ["Page"]
