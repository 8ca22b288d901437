"""``bench query``: ``Assistant.search`` latency (embed the question, Chroma, metadata, sentence rerank) p50/p95
at 1k/10k/100k passages, on the embedded store and on a ``chroma run`` server started here; recall@10 of
Chroma's HNSW against exact search at the largest size. The passages and vectors are those of the ``bench
scale`` store; beyond them, copies with small noise."""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evals.bench.corpus import SEED
from evals.bench.scale import scale_root
from evals.bench.shared import Bench
from evals.statistics import median, percentile
from qa.config import Config
from qa.errors import InputError
from qa.process import free_port, serving

if TYPE_CHECKING:  # qa.store loads Chroma and llama-index: only the benchmark itself pays for them
    from qa.store import Store, StoredRows

QUERY_SIZES = (1_000, 10_000, 100_000)
NOISE = 0.02  # per-dimension noise of the derived vectors (cosine ~0.93 to their source)
CHROMA_START_S = 120


def neighbour_recall(approx: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], k: int) -> float:
    """Mean share of the exact top ``k`` that the approximate search also returned in its top ``k``."""
    if len(approx) != len(exact) or not exact:
        raise ValueError("need one approximate and one exact list per query")
    return sum(len(set(a[:k]) & set(e[:k])) / min(k, len(e[:k]) or 1) for a, e in zip(approx, exact)) / len(exact)


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the ``k`` nearest rows by cosine for every query (exact, numpy)."""
    m = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    sims = q @ m.T
    top = np.argpartition(-sims, kth=min(k, sims.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def derive(vectors: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """``n`` unit vectors: the given ones, then noisy copies of them (for sizes beyond the real corpus)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n) % len(vectors)
    out = vectors[idx].astype(np.float32).copy()
    extra = np.arange(n) >= len(vectors)
    out[extra] += rng.normal(0.0, noise, size=(int(extra.sum()), vectors.shape[1])).astype(np.float32)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@contextlib.contextmanager
def chroma_server(path: Path, timeout: float = CHROMA_START_S) -> Iterator[str]:
    """``chroma run --path PATH`` on a free port of 127.0.0.1; yields its URL, stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(Path(sys.executable).parent / "chroma"),
        "run",
        "--path",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with serving(cmd, f"{url}/api/v2/heartbeat", path.with_name(f"{path.name}.log"), timeout, grace=20):
        yield url


def _source(store: Path, config: Config) -> StoredRows:
    """Ids, documents, metadata and vectors of every passage in a store."""
    from qa.embed import Embedder
    from qa.store import open_store

    embedder = Embedder()
    return open_store(replace(config, store=store, chroma_url=None), embedder.name, embedder.dim).rows(embeddings=True)


def copy_id(ids: Sequence[str], j: int) -> str:
    """The id of row ``j`` of a store filled with copies of ``ids`` (the source passage's id and its copy)."""
    return f"{ids[j % len(ids)]}~{j // len(ids)}"


def questions(data: Path, n: int, seed: int) -> list[str]:
    """``n`` distinct XQuAD questions of every language, shuffled: each timed search embeds a new one."""
    from evals import xquad

    qs = list(dict.fromkeys(q.text for lang in xquad.languages(data) for q in xquad.load(data, lang).questions))
    random.Random(seed).shuffle(qs)
    if n > len(qs):
        raise InputError(f"asked for {n} questions but XQuAD has {len(qs)}; use fewer --questions or --runs")
    return qs[:n]


def _fill(config: Config, size: int, source: StoredRows, vectors: np.ndarray, embedder) -> tuple[Store, float]:
    """A new collection of ``size`` passages (copies beyond the source get noisy vectors); seconds to add."""
    from qa.store import open_store

    store = open_store(config, embedder.name, embedder.dim, create=True)
    n = len(source.ids)
    t = time.perf_counter()
    store.add(
        ids=[copy_id(source.ids, j) for j in range(size)],
        documents=[source.documents[j % n] for j in range(size)],
        embeddings=vectors[:size],
        metadatas=[source.metadatas[j % n] for j in range(size)],
    )
    return store, time.perf_counter() - t


def bench_query(b: Bench, passages: int, sizes: Sequence[int], per_run: int, server: bool = True) -> dict:
    from qa.answer import Assistant
    from qa.embed import Embedder

    root = scale_root(b, passages)
    if not (root / "store").is_dir():
        raise InputError(
            f"no scale store at {root}: run `python -m evals bench scale --passages {passages}` first "
            "(the query figures search its passages and their cached sentence vectors)"
        )
    source = _source(root / "store", b.config)
    vectors = derive(source.embeddings, max(sizes), NOISE, SEED)
    embedder = Embedder(cache_path=root / "cache" / "embeddings.sqlite", build_dir=b.engine_dir)
    modes = ["embedded", "server"] if server else ["embedded"]
    asked = iter(questions(b.data, len(modes) * len(sizes) * (b.runs * per_run + 3) + 200, SEED))
    out: dict = {"source_passages": len(source.ids), "noise": NOISE, "k": 5, "questions_per_run": per_run, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="qa-bench-query-") as tmp, contextlib.ExitStack() as stack:
        configs = {
            "embedded": lambda size: replace(
                b.config, store=Path(tmp) / f"local-{size}", chroma_url=None, collection=f"bench-{size}", llm="none"
            )
        }
        if server:
            url = stack.enter_context(chroma_server(Path(tmp) / "server"))
            configs["server"] = lambda size: replace(b.config, chroma_url=url, collection=f"bench-{size}", llm="none")
        assistants, figures = {}, {}
        for size in sizes:
            for mode in modes:
                store, add_s = _fill(configs[mode](size), size, source, vectors, embedder)
                assistants[size, mode] = Assistant(configs[mode](size), embedder, store)
                figures[size, mode] = {"add_s": round(add_s, 1), "p50": [], "p95": []}
                for q in [next(asked) for _ in range(3)]:  # warm up: first queries load the index
                    assistants[size, mode].search(q, k=5)
        for _ in range(b.runs):  # every store in turn, so all see the same load
            for key, assistant in assistants.items():
                times = []
                for q in [next(asked) for _ in range(per_run)]:
                    t = time.perf_counter()
                    assistant.search(q, k=5)
                    times.append(time.perf_counter() - t)
                figures[key]["p50"].append(percentile(times, 50) * 1000)
                figures[key]["p95"].append(percentile(times, 95) * 1000)
        for (size, mode), f in figures.items():
            out["sizes"].setdefault(str(size), {})[mode] = {
                "p50_ms": round(median(f["p50"]), 1),
                "p95_ms": round(median(f["p95"]), 1),
                "runs_p50_ms": [round(x, 1) for x in f["p50"]],
                "add_s": f["add_s"],
            }
        largest = max(sizes)
        probe = [next(asked) for _ in range(200)]
        qv = embedder.queries(probe)
        exact = exact_top(vectors[:largest], qv, 10)
        got = assistants[largest, "embedded"].store.query(qv, 10)
        want = [[copy_id(source.ids, j) for j in row] for row in exact]
        out["recall_at_10"] = {
            "size": largest,
            "queries": len(probe),
            "value": round(neighbour_recall(got, want, 10), 4),
        }
    return out
