"""The regression gate: a run against the per-case results of a stored baseline run, one case of slack a metric.

A minimum of "measured less 0.03" failed CI on a new machine when one refusal case of 25 (0.04) moved. So the
baseline stores what every case scored, each metric may lose at most ``TOLERANCE`` cases' worth of its own
denominator, and every case that changed is listed by id, lost or won, so a reader sees at once what moved.

    python -m evals --llm none --write-baseline evals/baseline.json   # record (after an improvement)
    python -m evals --llm none --baseline evals/baseline.json         # gate
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError

TOLERANCE = 1  # cases a metric may lose against the baseline before the gate fails

# metric -> (does the case count for it, its value for the case); from a report case's "judgement"
Rule = tuple[Callable[[dict], bool], Callable[[dict], float]]
METRICS: dict[str, Rule] = {
    "accuracy": (lambda j: True, lambda j: float(j["correct"])),
    "answer.correct": (lambda j: not j["should_refuse"], lambda j: float(j["correct"])),
    "answer.first_claim": (
        lambda j: not j["should_refuse"] and j.get("first_claim") is not None,
        lambda j: float(bool(j.get("first_claim"))),
    ),
    "refusal.recall": (lambda j: j["should_refuse"], lambda j: float(j["refused"])),
    "refusal.precision": (lambda j: j["refused"], lambda j: float(j["should_refuse"])),
    "retrieval.hit@1": (lambda j: j["retrieval"] is not None, lambda j: float(j["retrieval"]["rank"] == 1)),
    "retrieval.hit@3": (
        lambda j: j["retrieval"] is not None,
        lambda j: float(j["retrieval"]["rank"] is not None and j["retrieval"]["rank"] <= 3),
    ),
    "retrieval.hit@k": (lambda j: j["retrieval"] is not None, lambda j: float(j["retrieval"]["rank"] is not None)),
    "citations.precision": (
        lambda j: j["citations"] is not None and j["citations"]["precision"] is not None,
        lambda j: float(j["citations"]["precision"]),
    ),
    "citations.recall": (
        lambda j: j["citations"] is not None and j["citations"]["recall"] is not None,
        lambda j: float(j["citations"]["recall"]),
    ),
}
# A conversation case counts for the same metrics under "conversation." and for these.
CONVERSATION_METRICS: dict[str, Rule] = {
    "context.used_when_needed": (
        lambda j: j["conversation"]["needs_context"],
        lambda j: float(j["conversation"]["used"]),
    ),
    "context.alone_when_standalone": (
        lambda j: not j["conversation"]["needs_context"],
        lambda j: float(not j["conversation"]["used"]),
    ),
}
ALL_METRICS = [*METRICS, *(f"conversation.{m}" for m in METRICS), *CONVERSATION_METRICS]


@dataclass(frozen=True)
class Baseline:
    """Every case's value of every metric in the baseline run, and the settings it was made with."""

    llm: str
    k: int
    cases: dict[str, dict[str, float]]  # case id -> metric -> value (only the metrics the case counts for)

    def mean(self, metric: str) -> tuple[float, int] | None:
        values = [v[metric] for v in self.cases.values() if metric in v]
        return (sum(values) / len(values), len(values)) if values else None


def per_case(report: dict) -> dict[str, dict[str, float]]:
    """Each case's value of each metric it counts for."""
    out: dict[str, dict[str, float]] = {}
    for c in report["cases"]:
        j = c["judgement"]
        if j.get("conversation") is None:
            out[c["case"]["id"]] = {m: value(j) for m, (counts, value) in METRICS.items() if counts(j)}
        else:
            rules = {f"conversation.{m}": rule for m, rule in METRICS.items()} | CONVERSATION_METRICS
            out[c["case"]["id"]] = {m: value(j) for m, (counts, value) in rules.items() if counts(j)}
    return out


def write_baseline(report: dict, path: Path, about: str) -> None:
    """Store this run as the baseline later runs are gated against."""
    cases = per_case(report)
    data = {
        "about": about,
        "llm": report["meta"]["llm"],
        "k": report["meta"]["k"],
        "tolerance_cases": TOLERANCE,
        "measured": {m: round(mean, 4) for m in ALL_METRICS if (mean := _mean(cases, m)) is not None},
        "cases": cases,
    }
    try:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the baseline {path}: {e.strerror}") from None


def _at(cases: dict[str, dict[str, float]], case: str, metric: str) -> float:
    """A case's value of a metric; 0 when the case is missing or no longer counts for it."""
    return cases.get(case, {}).get(metric, 0.0)


def _mean(cases: dict[str, dict[str, float]], metric: str) -> float | None:
    values = [v[metric] for v in cases.values() if metric in v]
    return sum(values) / len(values) if values else None


def load_baseline(path: Path) -> Baseline:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read the baseline {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"the baseline {path} is not JSON ({e.msg}, line {e.lineno})") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if (
        not isinstance(cases, dict)
        or not cases
        or not all(
            isinstance(v, dict) and all(m in ALL_METRICS and isinstance(x, (int, float)) for m, x in v.items())
            for v in cases.values()
        )
        or not isinstance(data.get("llm"), str)
        or not isinstance(data.get("k"), int)
    ):
        raise InputError(
            f'the baseline {path} must be an object with "llm", "k" and "cases": {{case id: {{metric: value}}}}; '
            "write one with `python -m evals --write-baseline FILE`"
        )
    return Baseline(llm=data["llm"], k=data["k"], cases={cid: dict(v) for cid, v in cases.items()})


def check_comparable(baseline: Baseline, llm: str, k: int, lang: str | None, limit: int | None) -> None:
    """Refuse to gate a run made differently from the baseline's: its scores would mean nothing against it."""
    problems = []
    if llm != baseline.llm:
        problems.append(f"--llm {baseline.llm} (this run: {llm})")
    if k != baseline.k:
        problems.append(f"--k {baseline.k} (this run: {k})")
    if lang or limit:
        problems.append("the whole case set (drop --lang and --limit)")
    if problems:
        raise InputError("the baseline was measured with " + ", ".join(problems))


@dataclass(frozen=True)
class Verdict:
    failures: list[str]  # one line per metric that lost more than TOLERANCE cases' worth
    changed: list[str]  # one line per metric whose cases moved: the ids lost and won


def gate(report: dict, baseline: Baseline) -> Verdict:
    """Each metric of the baseline against this run: fails when it fell more than ``TOLERANCE`` cases of its own
    denominator below the baseline's value; lists the cases that moved either way."""
    now = per_case(report)
    failures: list[str] = []
    changed: list[str] = []
    for metric in ALL_METRICS:
        base = baseline.mean(metric)
        if base is None:
            continue
        before, n = base
        after = _mean(now, metric)
        lost = sorted(
            c for c, v in baseline.cases.items() if metric in v and now.get(c, {}).get(metric, 0.0) < v[metric]
        )
        won = sorted(
            c for c, v in now.items() if metric in v and v[metric] > baseline.cases.get(c, {}).get(metric, 0.0)
        )
        if lost or won:
            changed.append(f"{metric}: lost {', '.join(lost) or 'none'}; won {', '.join(won) or 'none'}")
        floor = before - TOLERANCE / n
        if after is None:
            failures.append(f"{metric}: not measured in this run (baseline {before:.3f} over {n} cases)")
        elif after < floor - 1e-9:
            failures.append(
                f"{metric}: {after:.3f} is below the baseline's {before:.3f} by more than {TOLERANCE} of its {n} "
                f"cases (minimum {floor:.3f}); lost: {', '.join(lost) or 'none'}"
            )
    return Verdict(failures, changed)
