"""Fixtures for the ``slow`` tests of the local model: one real server per test module, and a check that a
process group is gone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from qa.config import Config
from qa.llm import LocalLLM, make_llm


@pytest.fixture(scope="module")
def local_llm() -> Iterator[LocalLLM]:
    """The bundled model on the real llama.cpp server, with the model in ``~/.cache/qa`` (assembled if missing)."""
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    llm = make_llm(Config(llm="local", llm_timeout=600))  # correctness, not speed: the machine may be busy
    assert isinstance(llm, LocalLLM)
    yield llm
    llm.close()


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def gone() -> Callable[[int], bool]:
    """``gone(pid)``: whether the process group led by ``pid`` has ended."""
    return _gone
