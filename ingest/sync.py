"""Bring the store in line with a set of files: add new articles, replace changed ones, skip the rest.

Crash safety comes from the ids: a passage id names the article (by path) and its content hash, so an
article is complete exactly when the store holds the id set its current text produces. New passages are
written before stale ones are deleted; a run killed anywhere leaves either the old or a partial new set,
and the next run finishes the job. Nothing is ever half-written inside a passage (Chroma upserts are atomic
per batch), and an article is never deleted before its replacement is stored.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm import tqdm

from ingest.chunk import chunk
from ingest.copies import CopyFinder, Folder
from ingest.feeds import FeedState, feed_sources
from ingest.fetch import Fetcher, fetch_article, is_url
from ingest.load import discover, load
from ingest.pdf import page_of
from ingest.state import beside_store
from qa.config import Config
from qa.embed import Embedder
from qa.errors import FileRejected, InputError, StoreBusy
from qa.filters import day_number
from qa.store import Store
from qa.text import split_sentences
from qa.types import Article, Passage, SyncReport

log = logging.getLogger(__name__)

WRITE_BATCH = 64


def write_lock(config: Config) -> FileLock:
    """One writer per store; the lock file sits in the store folder (or the cache, for a Chroma server)."""
    return FileLock(str(beside_store(config, ".ingest", ".lock")))


def metadata(p: Passage, article: Article, i: int, n: int, ingested_at: str | None = None) -> dict:
    """What Chroma stores beside a passage. ``date_int`` (YYYYMMDD, a month or year at its first day) makes a
    date range one ``where``; ``ingested_at`` is when it was written, never mistaken for the article's date."""
    meta = {
        "source": p.source,
        "path": p.path,
        "title": p.title,
        "label": p.label,
        "date": p.date,
        "date_int": day_number(article.date) if article.date else None,
        "date_precision": article.date_precision,
        "date_origin": article.date_origin,
        "ingested_at": ingested_at or _now(),
        "author": article.author,
        "site": article.site,
        "site_name": article.site_name,
        "url": article.url,
        "etag": article.etag,
        "last_modified": article.last_modified,
        "feed": article.feed,
        "from_summary": article.from_summary or None,
        "page": page_of(p.start, article.page_starts) if article.page_starts else None,
        # Where later pages begin inside the passage (article offsets, comma-separated): a quote's own page.
        "page_starts": ",".join(str(o) for o in article.page_starts if p.start < o < p.end) or None,
        "lang": p.lang,
        "start": p.start,
        "end": p.end,
        "article_sha": article.sha256,
        "chunk": i,
        "chunks": n,
    }
    return {k: v for k, v in meta.items() if v is not None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ingester:
    """:class:`qa.types.Library` over one store: what the page uses to add and delete articles."""

    def __init__(self, store: Store, embedder: Embedder, config: Config) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config

    def add(self, paths: list[Path], progress: bool = False) -> SyncReport:
        return sync(paths, self.store, self.embedder, self.config, progress=progress)

    def delete(self, path: str) -> int:
        with write_lock(self.config).acquire(timeout=30):
            ids = self.store.ids(path=path)
            if not ids:
                raise InputError(f"no ingested article has the path {path!r}")
            self.store.delete(ids)
        return len(ids)


def sync(
    paths: list[Path],
    store: Store,
    embedder: Embedder,
    config: Config,
    prune: bool = False,
    progress: bool = True,
    urls: Sequence[str] = (),
    fetcher: Fetcher | None = None,
    feeds: Sequence[str] = (),
    sentences: bool = True,
) -> SyncReport:
    """Ingest files and folders, web pages by URL and the new entries of RSS/Atom ``feeds`` (fetched with
    ``fetcher``, made from ``config`` if None). Every passage is written first; then, unless ``sentences`` is
    False, the sentence vectors that questions need are computed ahead of them."""
    lock = write_lock(config)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise StoreBusy(
            f"another ingest is writing to {config.store_location}; wait for it to finish and run this again"
        ) from None
    own_fetcher = fetcher is None and bool(urls or feeds)
    if own_fetcher:
        fetcher = Fetcher.from_config(config)
    try:
        return _sync(paths, list(urls), list(feeds), store, embedder, config, prune, progress, fetcher, sentences)
    finally:
        if own_fetcher and fetcher is not None:
            fetcher.close()
        lock.release()


def _sync(paths, urls, feeds, store, embedder, config, prune, progress, fetcher, sentences) -> SyncReport:
    t0 = time.perf_counter()
    report = SyncReport()
    files, report.failed = discover(paths)
    stored: dict[str, set[str]] = defaultdict(set)
    stored_meta: dict[str, dict] = {}
    rows = store.rows()
    for pid, meta in zip(rows.ids, rows.metadatas):
        stored[meta["path"]].add(pid)
        stored_meta[meta["path"]] = meta
    folder = Folder(CopyFinder.of_store(zip(rows.documents, rows.metadatas)), stored_meta)
    todo: list[tuple[Article, list[Passage]]] = []
    # Stored texts of files outside this batch; files in it are judged by what they hold now.
    in_batch = {str(f.resolve()) for f in files} | set(urls)
    owner_of_text: dict[str, str] = {
        meta.get("article_sha", ""): path
        for path, meta in stored_meta.items()
        if path not in in_batch and (is_url(path) or Path(path).exists())
    }
    max_bytes = int(config.max_file_mb * 1_000_000)
    sources: list[tuple[str, Callable[[], Article | None]]] = [(str(f), partial(load, f, max_bytes)) for f in files]
    sources += [(u, partial(fetch_article, fetcher, u, stored_meta.get(u))) for u in urls]
    state = FeedState.beside(config) if feeds else None
    if state is not None:
        from_feeds, bad_feeds = feed_sources(feeds, fetcher, state, config.feed_max_entries, stored_meta)
        sources += from_feeds
        report.failed += bad_feeds
    for where, read in sources:
        try:
            article = read()
        except FileRejected as e:
            report.failed.append(e)
            continue
        if article is None:  # a page the server says is unchanged since it was ingested
            report.skipped += 1
            continue
        other = owner_of_text.get(article.sha256)
        if other and other != article.path and not is_url(article.path):  # a page of the same text is a copy
            report.failed.append(FileRejected(where, f"same text as {other}, which is already ingested; skipped"))
            continue
        owner_of_text[article.sha256] = article.path
        # A new article: is it a syndicated copy of one already stored? Only a web page is dropped as a copy:
        # files are the user's own choice (old versions kept on purpose).
        if article.path not in stored and (found := folder.fold(article)):
            report.copies.append(found.to_dict())
            if found.path == article.path:
                continue
            todo = [item for item in todo if item[0].path != found.path]  # replaced within this run
        passages = chunk(article, embedder.token_count)
        if stored.get(article.path) == {p.id for p in passages}:
            report.skipped += 1
            if article.label and stored_meta.get(article.path, {}).get("label") != article.label:
                # Stored before articles had labels (or with another one): only the metadata changes.
                store.annotate(sorted(stored[article.path]), {"label": article.label})
            continue
        todo.append((article, passages))
    bar = tqdm(total=sum(len(ps) for _, ps in todo), unit="passage", desc="ingest", disable=not progress or None)
    batch: list[tuple[Article, list[Passage]]] = []
    written: list[Passage] = []
    for item in todo:
        batch.append(item)
        if sum(len(ps) for _, ps in batch) >= WRITE_BATCH:
            written += _write(batch, store, embedder, stored, report, bar)
            batch = []
    if batch:
        written += _write(batch, store, embedder, stored, report, bar)
    bar.close()
    report.searchable_seconds = time.perf_counter() - t0
    folder.apply(store)
    if sentences:
        report.sentences = _embed_sentences(written, embedder, progress)
    if state is not None:  # only now: a run killed before this reads the same entries again (and skips them)
        state.save()
    if prune:
        gone = [path for path in stored if not is_url(path) and not Path(path).exists()]
        for path in gone:
            store.delete(sorted(stored[path]))
            report.deleted += 1
    report.seconds = time.perf_counter() - t0
    return report


def _embed_sentences(passages: list[Passage], embedder: Embedder, progress: bool) -> int:
    """Put the sentence vectors of the written passages in the embedding cache; the number embedded.

    Retrieval reranks a passage's sentences and answers quote one, so a question needs them; one whose
    sentences are not cached yet (this step skipped or killed) embeds them itself, once. Run after every passage
    is written, so articles are searchable at the speed of the passage pass.
    """
    before = embedder.engine_calls
    texts = [p.text[s.start : s.end] for p in passages for s in split_sentences(p.text, p.lang)]
    step = WRITE_BATCH * 16
    with tqdm(total=len(texts), unit="sentence", desc="sentences", disable=not progress or None) as bar:
        for i in range(0, len(texts), step):
            embedder.passages(texts[i : i + step])
            bar.update(len(texts[i : i + step]))
    return embedder.engine_calls - before


def _write(batch, store: Store, embedder: Embedder, stored, report: SyncReport, bar) -> list[Passage]:
    """Embed and write the passages of these articles not yet stored, then delete what old versions left;
    the passages written.

    A passage already stored under its id is identical (the id names the article's text); that happens
    after a killed run. Writing it again would also break Chroma's local vector index: upserting unchanged
    rows left passages that a search never returns (206 of 432 in a test store), in every later process.
    """
    rows = [(a, i, len(ps), p) for a, ps in batch for i, p in enumerate(ps) if p.id not in stored.get(a.path, ())]
    before = embedder.engine_calls
    vectors = embedder.passages([p.text for *_, p in rows])
    report.embedded += embedder.engine_calls - before
    now = _now()
    for i in range(0, len(rows), WRITE_BATCH * 4):
        part = rows[i : i + WRITE_BATCH * 4]
        store.add(
            [p.id for *_, p in part],
            [p.text for *_, p in part],
            vectors[i : i + len(part)],
            [metadata(p, a, j, n, now) for a, j, n, p in part],
        )
        bar.update(len(part))
    report.passages += len(rows)
    for article, passages in batch:
        stale = stored.get(article.path, set()) - {p.id for p in passages}
        if stale:
            store.delete(sorted(stale))
        if article.path in stored:
            report.updated += 1
        else:
            report.added += 1
    return [p for *_, p in rows]
