"""``python -m evals``: ask every hand-written case, score the answers, write ``report.json`` and ``report.md``.

    python -m evals [--llm none|local|openai] [--k N] [--limit N] [--lang xx] [--out DIR]
                    [--compare OLD.json] [--baseline FILE | --write-baseline FILE] [--store DIR] [--cases FILE]
    python -m evals xquad ...     cross-lingual retrieval on XQuAD; --answers: answer selection (evals/xquad.py)
    python -m evals train-selector ...  the answer selector's weights from XQuAD articles 0-35
    python -m evals train-followup ...  the follow-up classifier's weights (qa/resolve.py)
    python -m evals bench ...     speed and scale (evals/bench/)
    python -m evals loadtest ...  many chat sessions at once against the page (evals/loadtest.py; old name: load)

Exit status: 0 done (and the baseline, if given, is met), 3 a metric lost more than one case against the
baseline (named on stderr with the cases that moved; ``evals/gate.py``), 1 nothing could be scored (bad cases
file, store, flag or model), 2 usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from evals import gate as gt
from evals import report as rep
from evals.args import positive_int
from evals.dataset import CASES_FILE, CONVERSATIONS_FILE, load_cases
from evals.run import ask_all, meta, open_assistant, select
from qa.config import LLM_MODES
from qa.errors import InputError, QAError
from qa.retrieve import check_k

# ``load`` is the load test's first name, kept so that commands people wrote down still work.
SUBCOMMANDS = {
    "xquad": "evals.xquad",
    "bench": "evals.bench",
    "loadtest": "evals.loadtest",
    "load": "evals.loadtest",
    "train-selector": "evals.train_selector",
    "train-followup": "evals.train_followup",
}
REGRESSION = 3
BASELINE_ABOUT = (
    "Per-case results of `QA_ENGINE=shipped QA_CACHE_DIR=<empty> python -m evals --llm none` (the CI gate in "
    "./test), written with --write-baseline. The gate fails a metric that lost more than one case of its own "
    "denominator against these and lists every case that moved (evals/gate.py). Rewrite it after an "
    "improvement; never to let a regression through."
)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m evals",
        description=__doc__.split("\n")[0].strip("`: "),
        epilog="Subcommands: `python -m evals xquad --help` (cross-lingual retrieval on XQuAD), "
        "`python -m evals bench --help` (speed and scale), "
        "`python -m evals loadtest --help` (many chat sessions at once against the page).",
    )
    ap.add_argument(
        "--llm",
        choices=LLM_MODES,
        help="answer with the local model, an OpenAI-compatible endpoint or none (extractive); default QA_LLM or local",
    )
    ap.add_argument("--k", type=int, default=5, help="passages per question (default 5)")
    ap.add_argument("--limit", type=positive_int, help="only the first N cases (after --lang)")
    ap.add_argument("--lang", help="only questions in this language (ISO 639-1, e.g. ar)")
    ap.add_argument(
        "--out", type=Path, default=Path("reports"), help="folder for report.json and report.md (default reports/)"
    )
    ap.add_argument("--compare", type=Path, metavar="OLD.json", help="print the change against an earlier report.json")
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help=f"a baseline run's per-case results (e.g. evals/baseline.json); exit {REGRESSION} when a metric "
        "lost more than one case against it",
    )
    ap.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="store this run's per-case results as the baseline later runs are gated against",
    )
    ap.add_argument(
        "--store",
        type=Path,
        help="a store folder to reuse (the bundled articles are added to it); default: a temporary store",
    )
    ap.add_argument(
        "--cases",
        type=Path,
        nargs="+",
        default=[CASES_FILE, CONVERSATIONS_FILE],
        help="cases files (default evals/cases.jsonl evals/conversations.jsonl)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return _subcommand(argv[0], argv[1:])
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        k = check_k(a.k)
        cases = select([c for path in a.cases for c in load_cases(path)], a.lang, a.limit)
        old = rep.load_report(a.compare) if a.compare else None
        if a.write_baseline and (a.lang or a.limit):
            raise InputError("a baseline is written from the whole case set: drop --lang and --limit")
        baseline = gt.load_baseline(a.baseline) if a.baseline else None
        started, t0 = datetime.now(UTC), time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="qa-evals-") as tmp:
            assistant = open_assistant(a.store or Path(tmp), a.llm)
            try:
                if baseline:
                    gt.check_comparable(baseline, assistant.config.llm, k, a.lang, a.limit)
                records = ask_all(assistant, cases, k, progress=not a.quiet)
            finally:
                assistant.close()
            report = rep.build(
                records,
                meta(assistant, ", ".join(map(str, a.cases)), k, a.lang, a.limit, started, time.perf_counter() - t0),
            )
        json_path, md_path = rep.write(report, a.out)
        if a.write_baseline:
            gt.write_baseline(report, a.write_baseline, BASELINE_ABOUT)
    except QAError as e:
        print(f"evals: error: {e}", file=sys.stderr)
        return 1
    print(rep.terminal(report))
    print(f"\nreports: {json_path}  {md_path}")
    if old is not None:
        print("\n" + rep.format_deltas(rep.compare(report, old), str(a.compare)))
    if baseline:
        verdict = gt.gate(report, baseline)
        for line in verdict.changed:
            print(f"against {a.baseline}: {line}")
        for f in verdict.failures:
            print(f"evals: regression: {f}", file=sys.stderr)
        if verdict.failures:
            return REGRESSION
        print(f"baseline {a.baseline}: no metric lost more than {gt.TOLERANCE} case")
    return 0


def _subcommand(name: str, argv: list[str]) -> int:
    """Import a subcommand's module only when asked for, so the main run never pays for (or needs) it."""
    module_name = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        print(
            f"evals: error: `python -m evals {name}` is not available in this checkout ({module_name} is missing)",
            file=sys.stderr,
        )
        return 2
    return module.main(argv)


if __name__ == "__main__":
    sys.exit(main())
