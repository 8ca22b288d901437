"""``bench ingest``: ``python -m ingest`` end to end (fresh store and cache) vs the raw embedder on the passages
that ingest makes of the same files; and the child-process runner of the CLI that ``bench scale`` uses too."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evals.bench.corpus import chunked
from evals.bench.embed import embed_seconds
from evals.bench.shared import Bench
from evals.statistics import median, ratio
from qa.config import PROJECT_DIR
from qa.errors import QAError
from qa.text import split_sentences


def ingest_env(cache: Path, engine_dir: Path) -> dict[str, str]:
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
    return IngestRun(
        seconds=seconds, peak_mb=usage.ru_maxrss / 1024, exit=proc.returncode, killed=killed, report=report
    )


def bench_ingest(b: Bench, passages: int) -> dict:
    """The CLI on a fresh store and cache, alternated with the raw embedder on the passages it makes."""
    engines = b.engines()
    name = "native" if "native" in engines else "shipped"
    engine = engines[name]
    folder = b.corpus(passages)
    made = chunked(folder, engine.token_count)
    texts = [p.text for p in made]
    sentences = {p.text[s.start : s.end] for p in made for s in split_sentences(p.text, p.lang)} - set(texts)
    tokens = sum(engine.token_count(t) for t in texts)
    sentence_tokens = sum(engine.token_count(t) for t in sentences)
    raw, wall, inside, searchable, peak = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="qa-bench-ingest-") as tmp:
        for i in range(b.runs):
            raw.append(embed_seconds(engine, texts))
            root = Path(tmp) / str(i)
            run = run_ingest(folder, root / "store", ingest_env(root / "cache", b.engine_dir))
            if run.exit != 0 or run.report is None:
                raise QAError(f"python -m ingest {folder} failed (exit {run.exit})")
            wall.append(run.seconds)
            inside.append(run.report["seconds"])
            searchable.append(run.report["searchable_seconds"])
            peak.append(run.peak_mb)
            shutil.rmtree(root, ignore_errors=True)
    r, w, s, f = median(raw), median(wall), median(inside), median(searchable)
    return {
        "passages": len(texts),
        "articles": len(list(folder.glob("*.txt"))),
        "engine": name,
        "passage_tokens": tokens,
        "sentence_tokens": sentence_tokens,
        "raw_s": round(r, 2),
        "raw_passages_per_s": round(len(texts) / r, 2),
        "raw_tokens_per_s": round(tokens / r),
        "cli_wall_s": round(w, 2),
        "cli_sync_s": round(s, 2),
        "cli_passages_per_s": round(len(texts) / w, 2),
        "cli_vs_raw": round(ratio(r, w), 3),
        # every passage written (searchable), from the start of the sync; the sentence pass comes after
        "cli_searchable_s": round(f, 2),
        "searchable_vs_raw": round(ratio(r, f), 3),
        # what ingest sends to the engine besides passages: every sentence, once (the rerank reads them)
        "cli_engine_tokens_per_s": round((tokens + sentence_tokens) / s),
        "overhead": round(1 - ratio((tokens + sentence_tokens) / s, tokens / r), 3),
        "runs": {
            "raw_s": [round(x, 2) for x in raw],
            "cli_wall_s": [round(x, 2) for x in wall],
            "cli_sync_s": [round(x, 2) for x in inside],
            "cli_searchable_s": [round(x, 2) for x in searchable],
        },
        "peak_rss_mb": round(max(peak), 1),
    }
