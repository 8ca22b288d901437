"""``python -m qa search|stats ...``: the library's command line (``--json`` output is a stable contract)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path

from qa.answer import Assistant
from qa.errors import QAError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m qa", description="Ask the ingested news articles.")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="the passages closest to a question")
    s.add_argument("question")
    s.add_argument("--k", type=int, default=5, help="how many passages (1-50, default 5)")
    _common(s)
    st = sub.add_parser("stats", help="what the store holds")
    _common(st)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        assistant = Assistant.from_env(store=a.store)
        if a.command == "search":
            passages = assistant.search(a.question, k=a.k)
            if a.json:
                _print_json({"question": a.question, "passages": [p.to_dict(i) for i, p in enumerate(passages, 1)]})
            else:
                for i, p in enumerate(passages, 1):
                    head = " · ".join(x for x in (p.title, p.date, p.lang) if x)
                    print(f"[{i}] {p.source}  score {p.score:.3f}  chars {p.start}-{p.end}  {head}")
                    print(textwrap.indent(textwrap.fill(p.text, 100), "    "), end="\n\n")
        elif a.command == "stats":
            s = assistant.stats()
            if a.json:
                _print_json(s.to_dict())
            else:
                langs = ", ".join(f"{k} {v}" for k, v in s.languages.items()) or "none"
                print(f"articles: {s.articles}\npassages: {s.passages}\nlanguages: {langs}\n"
                      f"embedder: {s.embedder}\nstore: {s.store}")
    except QAError as e:
        print(f"qa: error: {e}", file=sys.stderr)
        return 1
    return 0


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
