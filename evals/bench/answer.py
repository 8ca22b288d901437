"""``bench answer``: time to first token and total of ``Assistant.ask`` with the local model over eval cases:
single questions, and conversation cases asked after their earlier turns (those turns untimed), so the
resolving step (``qa/resolve.py``) is inside the figure."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from evals.bench.shared import Bench
from evals.statistics import median


def bench_answer(b: Bench, cases: int) -> dict:
    """``Assistant.ask`` with ``llm="local"`` over ``cases`` single eval cases and ``cases // 2`` conversation
    cases, spread over their files, each asked once."""
    from evals.dataset import CONVERSATIONS_FILE, load_cases
    from evals.run import open_assistant
    from evals.xquad import spread

    chosen = spread(load_cases(), cases) + spread(load_cases(CONVERSATIONS_FILE), max(1, cases // 2))
    with tempfile.TemporaryDirectory(prefix="qa-bench-answer-") as tmp:
        assistant = open_assistant(Path(tmp), "local")
        try:
            t = time.perf_counter()
            assistant.start_llm()
            started = time.perf_counter() - t
            asked = []
            for case in chosen:
                history: list[dict] = []
                for earlier in case.history:
                    said = assistant.ask(earlier, k=5, history=list(history))
                    history += [{"role": "user", "content": earlier}, {"role": "assistant", "content": said.text}]
                answer = assistant.ask(case.question, k=5, history=history or None)
                asked.append(
                    {
                        "case": case.id,
                        "conversation": bool(case.history),
                        "rewritten": answer.rewritten is not None,
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
    convs = [a for a in asked if a["conversation"]]
    return {
        "cases": len(asked),
        "server_start_s": round(started, 1),
        "first_token_p50_s": round(median([a["first_token_s"] for a in asked]), 2),
        "total_p50_s": round(median([a["total_s"] for a in asked]), 2),
        "answerable_first_token_p50_s": round(median([a["first_token_s"] for a in llm]), 2) if llm else None,
        "answerable_total_p50_s": round(median([a["total_s"] for a in llm]), 2) if llm else None,
        "conversation_first_token_p50_s": round(median([a["first_token_s"] for a in convs]), 2) if convs else None,
        "asked": asked,
    }
