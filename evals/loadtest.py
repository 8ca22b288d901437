"""``python -m evals loadtest``: many chat sessions at once against the real page, then it stops by itself.

    python -m evals loadtest [--sessions 20] [--questions 2] [--llm none|local|openai] [--store DIR] [--out FILE]

Starts ``python app.py`` on a free port of 127.0.0.1 (on a temporary store holding the bundled articles,
unless ``--store`` is given), opens ``--sessions`` gradio_client sessions at once (one per simulated
browser tab, each with its own conversation state on the server), and has each ask ``--questions``
questions in turn, the way a user waits for one answer before asking the next. The page answers one
question at a time (one local model), so most requests first wait in Gradio's queue, which shows the user
their place in it: that is the "busy" wait we count. Every request must end with an answer bubble (an
answer, an extractive answer or a refusal); an error bubble, an exception or a timeout is an error.

Prints one line per figure and writes a JSON report. Exit status: 0 no errors, 3 some requests failed,
1 the page could not be started. ``python -m evals load`` is the old name of the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from evals.statistics import percentile
from qa.config import LLM_MODES, PROJECT_DIR
from qa.errors import QAError
from qa.process import free_port, serving

log = logging.getLogger(__name__)

# Questions a reader of the bundled articles asks, in the languages the page's examples use.
QUESTIONS = [
    "Where are European leaders meeting on Thursday to discuss aid for Ukraine?",
    "Sa ushtarë të tjerë ka dërguar Koreja e Veriut në Rusi?",
    "Dove ha incontrato Lavrov Kim Jong Un?",
    "ماذا قال كيم جونغ أون عن دعم روسيا؟",
    "Combien de personnes ont été tuées à Dnipro ?",
    "How much money did the G7 agree to provide to Ukraine?",
    "Wann könnte Russland nordkoreanische Truppen einsetzen?",
]
ANSWER_CLASSES = ("qa-llm", "qa-extractive", "qa-refused")
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class Request:
    session: int
    question: str
    seconds: float  # from submitting to the final answer
    queued_s: float  # of which the request waited in the queue behind other users' questions
    outcome: str  # llm | extractive | refused | error
    detail: str = ""


def summarize(requests: list[Request], wall_s: float) -> dict:
    seconds = [r.seconds for r in requests if r.outcome != "error"]
    waited = [r for r in requests if r.queued_s > 0]
    outcomes = {k: sum(r.outcome == k for r in requests) for k in ("llm", "extractive", "refused", "error")}
    return {
        "requests": len(requests),
        "answered": len(requests) - outcomes["error"],
        "errors": outcomes["error"],
        "outcomes": outcomes,
        "waited_in_queue": len(waited),
        "latency_s": {
            "p50": _round(percentile(seconds, 50)),
            "p95": _round(percentile(seconds, 95)),
            "max": _round(max(seconds, default=None)),
        },
        "queue_wait_s": {
            "p50": _round(percentile([r.queued_s for r in requests], 50)),
            "p95": _round(percentile([r.queued_s for r in requests], 95)),
        },
        "wall_s": round(wall_s, 1),
        "answers_per_min": round(60 * len(seconds) / wall_s, 1) if wall_s else None,
        "error_details": sorted({r.detail for r in requests if r.outcome == "error"}),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


@contextmanager
def page(store: Path, llm: str, log_path: Path) -> Iterator[str]:
    """``python app.py`` on a free port until the block ends; SIGTERM stops it (and its local model)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    env.pop("QA_AUTH", None)  # the sessions do not log in
    cmd = [sys.executable, "app.py", "--llm", llm, "--store", str(store), "--port", str(port)]
    with serving(cmd, url, log_path, START_TIMEOUT_S, env=env, cwd=PROJECT_DIR, grace=60):
        yield url


def outcome_of(result) -> tuple[str, str]:
    """What the user saw: the class of the last chat bubble (an answer kind, or an error)."""
    try:
        chat = result[1]
        content = chat[-1]["content"]
        html = content[0]["text"] if isinstance(content, list) else str(content)
    except (IndexError, KeyError, TypeError) as e:
        return "error", f"unexpected reply shape ({type(e).__name__})"
    if "qa-failed" in html:
        return "error", "error bubble: " + html[:200]
    for cls in ANSWER_CLASSES:
        if cls in html:
            return cls.removeprefix("qa-"), ""
    return "error", "no answer bubble: " + html[:200]


def session(
    n: int, url: str, questions: list[str], mode: str, timeout: float, start: threading.Barrier
) -> list[Request]:
    """One user: connect, wait for everyone, then ask each question after the previous answer arrived."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    start.wait()
    done: list[Request] = []
    chat: list = []
    for q in questions:
        t0 = time.perf_counter()
        queued = 0.0
        try:
            job = client.submit(q, chat, 5, mode, api_name="/respond")
            last = t0
            while not job.done():
                now = time.perf_counter()
                status = job.status()
                if getattr(status.code, "name", "") in ("JOINING_QUEUE", "QUEUE", "IN_QUEUE") or (status.rank or 0) > 0:
                    queued += now - last
                last = now
                if now - t0 > timeout:
                    job.cancel()
                    raise TimeoutError(f"no answer within {timeout:.0f} s")
                time.sleep(0.05)
            result = job.result(timeout=timeout)
            kind, detail = outcome_of(result)
            if kind != "error":
                chat = result[1]
        except Exception as e:  # the point is to count every failure, whatever it is
            kind, detail = "error", f"{type(e).__name__}: {str(e)[:200]}"
        done.append(Request(n, q, time.perf_counter() - t0, round(queued, 2), kind, detail))
    client.close()
    return done


def run(url: str, sessions: int, questions: int, mode: str, timeout: float) -> tuple[list[Request], float]:
    start = threading.Barrier(sessions)
    plans = [[QUESTIONS[(i + j) % len(QUESTIONS)] for j in range(questions)] for i in range(sessions)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(sessions) as pool:
        futures = [pool.submit(session, i, url, plans[i], mode, timeout, start) for i in range(sessions)]
        requests = [r for f in futures for r in f.result()]
    return requests, time.perf_counter() - t0


def ingest_bundled(store: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "--store", str(store), "--quiet"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed: {done.stderr[-1000:]}")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m evals loadtest", description=__doc__.split("\n")[0].strip("`: "))
    ap.add_argument("--sessions", type=int, default=20, help="chat sessions at once (default 20)")
    ap.add_argument("--questions", type=int, default=2, help="questions each session asks in turn (default 2)")
    ap.add_argument(
        "--llm", choices=LLM_MODES, default="none", help="the page's answer mode (default none: extractive)"
    )
    ap.add_argument("--store", type=Path, help="serve this store (default: a temporary one with the bundled articles)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds one request may take, queue included")
    ap.add_argument("--out", type=Path, default=PROJECT_DIR / "reports" / "load.json", help="the JSON report")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.sessions < 1 or a.questions < 1:
        print("evals loadtest: error: --sessions and --questions must be at least 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mode = "extractive" if a.llm == "none" else "llm"
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        store = a.store
        try:
            if store is None:
                store = Path(tmp) / "store"
                ingest_bundled(store)
            with page(store, a.llm, Path(tmp) / "app.log") as url:
                requests, wall = run(url, a.sessions, a.questions, mode, a.timeout)
        except (RuntimeError, QAError) as e:  # the page's error quotes the tail of app.log
            print(f"evals loadtest: error: {e}", file=sys.stderr)
            return 1
    summary = summarize(requests, wall)
    report = {
        "sessions": a.sessions,
        "questions_per_session": a.questions,
        "llm": a.llm,
        **summary,
        "requests_detail": [asdict(r) for r in requests],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    lat, wait = summary["latency_s"], summary["queue_wait_s"]
    print(
        f"load: {a.sessions} sessions x {a.questions} questions, --llm {a.llm}: {summary['answered']}/"
        f"{summary['requests']} answered ({summary['outcomes']['llm']} llm, {summary['outcomes']['extractive']} "
        f"extractive, {summary['outcomes']['refused']} refused), {summary['errors']} errors; "
        f"{summary['waited_in_queue']} waited in the queue"
    )
    print(
        f"load: latency p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s; queue wait p50 {wait['p50']} s, "
        f"p95 {wait['p95']} s; {summary['wall_s']} s in all, {summary['answers_per_min']} answers/min"
    )
    for detail in summary["error_details"]:
        print(f"load: error: {detail}", file=sys.stderr)
    print(f"report: {a.out}")
    return 3 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
