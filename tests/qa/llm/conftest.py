"""Fixtures for the ``slow`` tests of the local model: one real server per test module, the real model for
servers shared in a temporary cache folder (stopped after each test), and a check that a process group is gone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qa.config import Config
from qa.llm import LocalLLM, ensure_model, make_llm
from qa.llm.shared import stop_all


@pytest.fixture(scope="module")
def local_llm() -> Iterator[LocalLLM]:
    """The bundled model on the real llama.cpp server, with the model in ``~/.cache/qa`` (assembled if missing):
    the server of this process alone (``QA_LLM_IDLE=0``), as before servers were shared."""
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    # llm_timeout: correctness, not speed: the machine may be busy
    llm = make_llm(Config(llm="local", llm_timeout=600, llm_idle=0))
    assert isinstance(llm, LocalLLM)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def model_file() -> Path:
    """The bundled model's file in ``~/.cache/qa`` (assembled if missing), for servers whose cache is elsewhere."""
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    return ensure_model(Config().cache_dir)


@pytest.fixture
def shared_cache(tmp_path) -> Iterator[Path]:
    """A cache folder of its own for shared servers; every server recorded in it is stopped afterwards."""
    cache = tmp_path / "cache"
    cache.mkdir()
    yield cache
    stop_all(cache)


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
