"""``bench filters``: what a date, language or source filter costs a search, at 10k passages by default.

The store holds the bundled articles' real passages and vectors, then noisy copies of them (as ``bench query``
does beyond its corpus), each with a publication date spread over one year, one of the bundled languages and
one of 50 sources, so each filter keeps a known share of the store: a month about 1/12, a language about 1/4,
a source 1/50. Every search is ``Assistant.search`` (Chroma's filtered vector query, then the sentence rerank),
alternated across the filters so all see the same load; p50/p95 per filter and the share of passages it keeps;
and the store's size on disk per passage (text, metadata, vectors and index).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from evals.bench.corpus import SEED
from evals.bench.query import derive, questions
from evals.bench.shared import Bench
from evals.statistics import median, percentile
from qa.config import BUNDLED_ARTICLES

SOURCES = 50
FIRST_DAY = date(2024, 1, 1)
FILTERS: dict[str, dict] = {
    "none": {},
    "one month": {"since": "2024-06", "until": "2024-06"},
    "one language": {"langs": ["en"]},
    "one source": {"sources": ["source-07.txt"]},
    "month + language": {"since": "2024-06", "until": "2024-06", "langs": ["en"]},
}


def bench_filters(b: Bench, passages: int, per_run: int) -> dict:
    from ingest.sync import sync
    from qa.answer import Assistant
    from qa.embed import Embedder
    from qa.store import open_store

    with tempfile.TemporaryDirectory(prefix="qa-bench-filters-") as tmp:
        config = replace(b.config, store=Path(tmp) / "bundled", chroma_url=None, llm="none")
        embedder = Embedder(cache_path=Path(tmp) / "embeddings.sqlite", build_dir=b.engine_dir)
        bundled = open_store(config, embedder.name, embedder.dim, create=True)
        sync([BUNDLED_ARTICLES], bundled, embedder, config, progress=False)
        source = bundled.rows(embeddings=True)
        assert source.embeddings is not None
        vectors = derive(source.embeddings, passages, 0.02, SEED)
        langs = sorted({m.get("lang", "?") for m in source.metadatas})
        metas = []
        for j in range(passages):
            day = FIRST_DAY + timedelta(days=(j * 7) % 366)
            meta = dict(source.metadatas[j % len(source.ids)])
            meta.update(
                source=f"source-{j % SOURCES:02d}.txt",
                path=f"/bench/source-{j % SOURCES:02d}.txt",
                date=day.isoformat(),
                date_int=day.year * 10000 + day.month * 100 + day.day,
                lang=langs[(j // SOURCES) % len(langs)],
            )
            metas.append(meta)
        big = replace(config, store=Path(tmp) / "store")
        store = open_store(big, embedder.name, embedder.dim, create=True)
        t = time.perf_counter()
        store.add(
            [f"{source.ids[j % len(source.ids)]}~{j}" for j in range(passages)],
            [source.documents[j % len(source.ids)] for j in range(passages)],
            vectors,
            metas,
        )
        add_s = time.perf_counter() - t
        disk = sum(f.stat().st_size for f in (Path(tmp) / "store").rglob("*") if f.is_file())
        assistant = Assistant(big, embedder, store)
        asked = iter(questions(b.data, len(FILTERS) * (b.runs * per_run + 3), SEED))
        for chosen in FILTERS.values():  # warm up each filter's path
            for q in [next(asked) for _ in range(3)]:
                assistant.search(q, k=5, **chosen)
        p50s: dict[str, list[float]] = {name: [] for name in FILTERS}
        p95s: dict[str, list[float]] = {name: [] for name in FILTERS}
        for _ in range(b.runs):
            for name, chosen in FILTERS.items():
                times = []
                for q in [next(asked) for _ in range(per_run)]:
                    t = time.perf_counter()
                    found = assistant.search(q, k=5, **chosen)
                    times.append(time.perf_counter() - t)
                    assert found, f"the {name} filter found nothing"
                p50s[name].append(percentile(times, 50) * 1000)
                p95s[name].append(percentile(times, 95) * 1000)
        kept = {name: _kept(metas, chosen) for name, chosen in FILTERS.items()}
    return {
        "passages": passages,
        "add_s": round(add_s, 1),
        "store_mb": round(disk / 1e6, 1),
        "bytes_per_passage": round(disk / passages),
        "questions_per_run": per_run,
        "filters": {
            name: {
                "kept_share": round(kept[name], 3),
                "p50_ms": round(median(p50s[name]), 1),
                "p95_ms": round(median(p95s[name]), 1),
                "runs_p50_ms": [round(x, 1) for x in p50s[name]],
            }
            for name in FILTERS
        },
    }


def _kept(metas: list[dict], chosen: dict) -> float:
    """The share of passages a filter keeps (computed here, independently of Chroma)."""
    since = int(chosen["since"].replace("-", "") + "01") if "since" in chosen else 0
    until = int(chosen["until"].replace("-", "") + "31") if "until" in chosen else 99999999
    hits = [
        m
        for m in metas
        if since <= m["date_int"] <= until
        and ("langs" not in chosen or m["lang"] in chosen["langs"])
        and ("sources" not in chosen or m["source"] in chosen["sources"])
    ]
    return len(hits) / len(metas)
