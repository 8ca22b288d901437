"""Fixtures of the ``qa`` tests that use the real local model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.config import Config
from qa.llm import LLM, make_llm


@pytest.fixture(scope="module")
def local_llm() -> Iterator[LLM]:
    """One real local llama.cpp server for the module (the bundled model, from the user's cache)."""
    llm = make_llm(
        Config(cache_dir=Path.home() / ".cache" / "qa", llm="local", llm_timeout=300, llm_idle=0).validated()
    )
    assert llm is not None
    yield llm
    llm.close()
