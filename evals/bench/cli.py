"""The ``python -m evals bench`` command line: which benchmarks to run, their sizes, and where the JSON goes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from evals.args import positive_int
from evals.bench.answer import bench_answer
from evals.bench.embed import bench_embed
from evals.bench.filters import bench_filters
from evals.bench.ingest import bench_ingest
from evals.bench.query import QUERY_SIZES, bench_query
from evals.bench.scale import bench_scale
from evals.bench.servers import bench_servers
from evals.bench.shared import DEFAULT_WORK, Bench
from evals.bench.shell import bench_cli
from evals.bench.table import table
from evals.xquad import DEFAULT_DATA, write_json
from qa.config import Config
from qa.errors import QAError

PARTS = ("embed", "ingest", "scale", "query", "answer", "cli", "filters", "servers")


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
    ap.add_argument(
        "--passages",
        type=positive_int,
        help="corpus size of the part named: embed/ingest/servers default 300, scale and filters default 10000 (query "
        "reads the scale store of that size); `all` uses the defaults",
    )
    ap.add_argument(
        "--runs",
        type=positive_int,
        default=3,
        help="runs per figure; the median is reported (default 3; cli: calls of each kind)",
    )
    ap.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"XQuAD folder (default {DEFAULT_DATA})")
    ap.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help=f"folder for the generated corpus and stores (default {DEFAULT_WORK})",
    )
    ap.add_argument(
        "--kill-after",
        type=_seconds,
        default=120.0,
        help="scale: SIGKILL the first ingest after this many seconds (default 120)",
    )
    ap.add_argument(
        "--sizes",
        type=_sizes,
        default=list(QUERY_SIZES),
        help="query: store sizes, comma-separated (default 1000,10000,100000)",
    )
    ap.add_argument("--questions", type=positive_int, default=40, help="query, filters: questions per run (default 40)")
    ap.add_argument("--cases", type=positive_int, default=10, help="answer: eval cases asked (default 10)")
    ap.add_argument("--no-server", action="store_true", help="query: skip the Chroma server")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parts = PARTS if a.part == "all" else (a.part,)
    try:
        b = Bench(work=a.work, data=a.data, runs=a.runs, config=Config.from_env())
        result: dict = {
            "benchmark": "bench",
            "runs": a.runs,
            "cpus": os.cpu_count(),
            "command": "python -m evals bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        scale_n = a.passages if a.passages and a.part in ("scale", "query") else 10_000
        small_n = a.passages if a.passages and a.part in ("embed", "ingest", "servers") else 300
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
            elif part == "answer":
                result[part] = bench_answer(b, a.cases)
            elif part == "servers":
                result[part] = bench_servers(b, small_n)
            elif part == "filters":
                result[part] = bench_filters(b, a.passages or 10_000, a.questions)
            else:
                result[part] = bench_cli(b)
            result[part]["bench_seconds"] = round(time.perf_counter() - t, 1)
            print(table({part: result[part]}), flush=True)
            if a.out:
                write_json(a.out, result)
    except QAError as e:
        print(f"evals bench: error: {e}", file=sys.stderr)
        return 1
    return 0
