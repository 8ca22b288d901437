"""``bench answer``: time to first token and total of ``Assistant.ask`` with the local model over eval cases."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from evals.bench.shared import Bench
from evals.statistics import median


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
                asked.append(
                    {
                        "case": case.id,
                        "answerable": bool(case.sources),
                        "mode": answer.mode,
                        "refused": answer.refused,
                        "first_token_s": answer.timings["first_token_s"],
                        "total_s": answer.timings["total_s"],
                    }
                )
        finally:
            assistant.close()
    llm = [a for a in asked if a["answerable"]]
    return {
        "cases": len(asked),
        "server_start_s": round(started, 1),
        "first_token_p50_s": round(median([a["first_token_s"] for a in asked]), 2),
        "total_p50_s": round(median([a["total_s"] for a in asked]), 2),
        "answerable_first_token_p50_s": round(median([a["first_token_s"] for a in llm]), 2) if llm else None,
        "answerable_total_p50_s": round(median([a["total_s"] for a in llm]), 2) if llm else None,
        "asked": asked,
    }
