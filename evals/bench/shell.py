"""``bench cli``: ``python -m qa`` as a shell runs it, one new process a call, wall time from start to exit.

Measured side by side in one run, each call a different question from ``evals/cases.jsonl``: ``qa search``;
the first ``qa ask --llm local``, which starts the shared model server (``QA_LLM_IDLE`` > 0); later ``ask``
calls, which reuse it; and ``ask`` with ``QA_LLM_IDLE=0``, which starts a server of its own every call (the
behaviour before servers were shared). Rounds alternate search, reused ask and own-server ask, so the machine's
load falls on all three alike.

The calls get a fresh cache folder (the engine build copied in, the model file pointed at, so neither is made
again) and a fresh store of the bundled articles, ingested first: its passages and sentences are then in the
embedding cache, as on a machine in use. The shared server is stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.bench.ingest import ingest_env, run_ingest
from evals.bench.shared import Bench
from evals.statistics import median
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR
from qa.errors import QAError


def call_qa(args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """``python -m qa ARGS --json`` in a new process: its wall seconds and its JSON."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "qa", *args, "--json"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise QAError(f"python -m qa {args[0]} failed (exit {done.returncode}): {done.stderr.strip()[-1000:]}")
    return seconds, json.loads(done.stdout)


def bench_cli(b: Bench) -> dict:
    """``b.runs`` rounds of search / reused ask / own-server ask after one cold ask; the shared server stopped."""
    from evals.dataset import load_cases
    from evals.xquad import spread
    from qa.llm.files import ensure_model
    from qa.llm.shared import stop_all

    answerable = [c for c in load_cases() if c.sources]  # a refusal would not ask the model
    questions = iter(c.question for c in spread(answerable, 3 * b.runs + 1))
    model = b.config.model_path or ensure_model(b.config.cache_dir)
    calls: dict[str, list[dict]] = {"search": [], "ask_cold": [], "ask_reused": [], "ask_own_server": []}
    with tempfile.TemporaryDirectory(prefix="qa-bench-cli-") as tmp:
        store, cache = Path(tmp) / "store", Path(tmp) / "cache"
        env = {**ingest_env(cache, b.engine_dir), "QA_MODEL_PATH": str(model)}
        ingested = run_ingest(BUNDLED_ARTICLES, store, env)
        if ingested.exit != 0:
            raise QAError(f"python -m ingest {BUNDLED_ARTICLES} failed (exit {ingested.exit})")
        search = (["search", "--store", str(store)], env)
        ask = (["ask", "--llm", "local", "--store", str(store)], {**env, "QA_LLM_IDLE": "300"})
        ask_own = (ask[0], {**env, "QA_LLM_IDLE": "0"})
        plan = [("ask_cold", ask)] + [("search", search), ("ask_reused", ask), ("ask_own_server", ask_own)] * b.runs
        try:
            for name, (args, call_env) in plan:
                seconds, out = call_qa([args[0], next(questions), *args[1:]], call_env)
                calls[name].append({"wall_s": round(seconds, 2), **_inside(out)})
        finally:
            stop_all(cache)
    return {
        "calls": b.runs,
        "model": str(model),
        "search_p50_s": _p50(calls["search"]),
        "ask_cold_s": calls["ask_cold"][0]["wall_s"],
        "ask_reused_p50_s": _p50(calls["ask_reused"]),
        "ask_own_server_p50_s": _p50(calls["ask_own_server"]),
        # inside Assistant.ask: the rest of the wall time is the process's start-up and exit
        "ask_reused_inside_p50_s": round(median([c["total_s"] for c in calls["ask_reused"]]), 2),
        "calls_made": calls,
    }


def _inside(out: dict) -> dict:
    """What an answer's JSON says of the call: in-process time, time to the model's first token, refusal."""
    if "timings" not in out:
        return {}
    return {k: out["timings"][k] for k in ("first_token_s", "total_s")} | {"refused": out["refused"]}


def _p50(calls: list[dict]) -> float:
    return round(median([c["wall_s"] for c in calls]), 2)
