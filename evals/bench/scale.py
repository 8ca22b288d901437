"""``bench scale``: ``--passages`` (default 10,000) ingested end to end by the CLI, killed part-way and re-run
(it must continue and end with exactly the expected passage ids), then re-run over unchanged text (nothing may
be embedded); wall time and peak memory of each run, and when every passage was searchable (before the
sentence pass). ``bench query`` searches the store it leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

from evals.bench.corpus import chunked
from evals.bench.ingest import ingest_env, run_ingest
from evals.bench.shared import Bench
from qa.config import Config


def scale_root(b: Bench, passages: int) -> Path:
    """The folder of the scale store and cache of that size (written by ``bench scale``, read by ``bench query``)."""
    return b.work / f"scale-{passages}"


def _stored_ids(store: Path, config: Config) -> set[str]:
    from qa.embed import Embedder
    from qa.store import open_store

    embedder = Embedder()
    opened = open_store(Config(store=store, cache_dir=config.cache_dir, llm="none"), embedder.name, embedder.dim)
    return set(opened.all_metadata())


def bench_scale(b: Bench, passages: int, kill_after: float) -> dict:
    from qa.embed import Embedder

    folder = b.corpus(passages)
    expected = {p.id for p in chunked(folder, Embedder(build_dir=b.engine_dir).token_count)}
    root = scale_root(b, passages)
    shutil.rmtree(root, ignore_errors=True)
    store, env = root / "store", ingest_env(root / "cache", b.engine_dir)
    first = run_ingest(folder, store, env, kill_after=kill_after)
    after_kill = len(_stored_ids(store, b.config)) if store.exists() else 0
    resumed = run_ingest(folder, store, env)
    complete = _stored_ids(store, b.config) == expected
    again = run_ingest(folder, store, env)
    total = first.seconds + resumed.seconds
    # The last run's sentence pass follows its last passage: every article was searchable before it.
    report = resumed.report or {}
    searchable = total - (report.get("seconds", 0.0) - report.get("searchable_seconds", report.get("seconds", 0.0)))
    return {
        "passages": len(expected),
        "articles": len(list(folder.glob("*.txt"))),
        "killed_after_s": round(first.seconds, 1),
        "killed": first.killed,
        "stored_when_killed": after_kill,
        "resumed_s": round(resumed.seconds, 1),
        "resumed_report": resumed.report,
        "end_to_end_s": round(total, 1),
        "end_to_end_min": round(total / 60, 2),
        "passages_per_s": round(len(expected) / total, 2),
        "searchable_min": round(searchable / 60, 2),
        "exact_passage_set": complete,
        "unchanged_s": round(again.seconds, 1),
        "unchanged_report": again.report,
        "unchanged_share": round(again.seconds / total, 4),
        "peak_rss_mb": round(max(first.peak_mb, resumed.peak_mb, again.peak_mb), 1),
        "store": str(store),
        "cache": str(root / "cache"),
    }
