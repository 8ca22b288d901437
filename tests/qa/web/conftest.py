"""Fixtures for the page's tests: a writable copy of the bundled corpus's store, and files as browsers upload them."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from ingest.sync import Ingester
from qa.answer import Assistant
from qa.store import open_store


@pytest.fixture
def writable(tmp_path, corpus, embedder, make_config) -> Assistant:
    """An assistant (no LLM) on a copy of the corpus's store, for tests that add or delete articles."""
    store = tmp_path / "store"
    shutil.copytree(corpus.config.store, store, ignore=shutil.ignore_patterns("*.lock"))
    config = make_config(store)
    return Assistant(config, embedder, open_store(config, embedder.name, embedder.dim), llm=None)


@pytest.fixture
def library(writable) -> Ingester:
    return Ingester(writable.store, writable.embedder, writable.config)


@pytest.fixture
def upload(tmp_path) -> Callable[..., str]:
    """``upload(name, text)``: a file as Gradio hands it to a callback, in a folder of its own under the sent name."""

    def make(name: str, text: str | bytes = "An article with enough words to be read. " * 3) -> str:
        folder = tmp_path / "gradio" / str(len(list(tmp_path.glob("gradio/*"))))
        folder.mkdir(parents=True)
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return str(path)

    return make
