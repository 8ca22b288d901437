"""``python -m qa ask|search|stats|model ...``: the library's command line.

The ``--json`` output of ``ask`` and ``search`` is a contract that scripts rely on: one JSON object on
stdout; errors go to stderr with exit status 1.

Every call is a new process, so what a command does not need is not imported: ``--help`` and ``model`` never
load the store, and nothing but ``ask`` loads a language model's client.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import LLM_MODES, Config
from qa.errors import QAError
from qa.export import answer_markdown, citation_extras
from qa.filters import Filters, undated_note
from qa.llm.files import ensure_model
from qa.llm.shared import stop_all
from qa.strings import say

if TYPE_CHECKING:  # loads the store, the embedder and the models: imported in main() once a command needs it
    from qa.answer import Assistant


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="only articles published on or after this date (YYYY-MM-DD, YYYY-MM or YYYY)")
    p.add_argument("--until", help="only articles published on or before this date (YYYY-MM-DD, YYYY-MM or YYYY)")
    p.add_argument(
        "--source", action="append", dest="sources", help="only this file name, URL or web site (repeatable)"
    )
    p.add_argument("--lang", action="append", dest="langs", help="only articles in this language, e.g. fr (repeatable)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m qa", description="Ask the ingested news articles.")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="the passages closest to a question")
    s.add_argument("question")
    s.add_argument("--k", type=int, default=5, help="how many passages (1-50, default 5)")
    _filters(s)
    _common(s)
    q = sub.add_parser("ask", help="answer a question with verified citations")
    q.add_argument("question")
    q.add_argument("--k", type=int, default=5, help="passages to read and show (1-50, default 5)")
    q.add_argument("--llm", choices=LLM_MODES, help="local (default), openai, or none for extractive answers")
    q.add_argument("--markdown", action="store_true", help="print the answer and its quoted sources as Markdown")
    _filters(q)
    _common(q)
    st = sub.add_parser("stats", help="what the store holds")
    _common(st)
    m = sub.add_parser("model", help="assemble and verify the local model file now (done once, then cached)")
    m.add_argument(
        "--stop", action="store_true", help="instead, stop the local model servers left running for later calls"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if a.command == "model":
            return _model(Config.from_env(), a.stop)
        chosen = {k: getattr(a, k, None) for k in ("since", "until", "sources", "langs")}
        filters = Filters.of(**chosen)  # bad dates are refused before the store and the model are loaded
        from qa.answer import Assistant

        # Only ask phrases with a model: search and stats never start or find one.
        assistant = Assistant.from_env(store=a.store, llm=getattr(a, "llm", None) if a.command == "ask" else "none")
        if a.command == "ask":
            try:
                answer = assistant.ask(a.question, k=a.k, **chosen)
            finally:
                assistant.close()
            if undated := _undated(assistant, filters):
                answer = replace(answer, note="; ".join(x for x in (answer.note, undated) if x))
            if a.json:
                _print_json(answer.to_dict())
            elif a.markdown:
                print(answer_markdown(answer), end="")
            else:
                _print_answer(answer)
        elif a.command == "search":
            passages = assistant.search(a.question, k=a.k, **chosen)
            undated = _undated(assistant, filters)
            if a.json:
                out = {"question": a.question, "passages": [p.to_dict(i) for i, p in enumerate(passages, 1)]}
                _print_json({**out, "note": undated} if undated else out)
            else:
                if undated:
                    print(f"note: {undated}\n")
                for i, p in enumerate(passages, 1):
                    head = " · ".join(x for x in (p.name if p.name != p.source else None, p.date, p.lang) if x)
                    print(f"[{i}] {p.source}  score {p.score:.3f}  chars {p.start}-{p.end}  {head}")
                    print(textwrap.indent(textwrap.fill(p.text, 100), "    "), end="\n\n")
        elif a.command == "stats":
            s = assistant.stats()
            if a.json:
                _print_json(s.to_dict())
            else:
                langs = ", ".join(f"{k} {v}" for k, v in s.languages.items()) or "none"
                print(
                    f"articles: {s.articles}\npassages: {s.passages}\nlanguages: {langs}\n"
                    f"embedder: {s.embedder}\nstore: {s.store}"
                )
    except QAError as e:
        print(f"qa: error: {e}", file=sys.stderr)
        return 1
    return 0


def _model(config: Config, stop: bool) -> int:
    """``qa model``: the model file's path, assembled if needed; with ``--stop``, stop the shared servers."""
    if not stop:
        print(ensure_model(config.cache_dir))
        return 0
    stopped = stop_all(config.cache_dir)
    for r in stopped:
        print(f"stopped the local model server pid {r.pid} on port {r.port} ({Path(str(r.settings['model'])).name})")
    if not stopped:
        print(f"no local model server was running for {config.cache_dir}")
    return 0


def _undated(assistant: Assistant, filters: Filters) -> str | None:
    """The note on passages a date filter left out for having no date (only read when dates are filtered)."""
    return undated_note(assistant.store.all_metadata().values(), filters) if filters.dated else None


def _print_answer(answer) -> None:
    label = "refused" if answer.refused else answer.mode
    print(textwrap.fill(answer.text, 100))
    print(
        f"\n({label}; {answer.verified}/{answer.claims} claims verified, {answer.dropped} dropped; "
        f"{answer.timings.get('total_s', 0):.1f} s)"
    )
    if answer.rewritten:
        print(f"{say('searched_for', answer.lang)} {answer.rewritten}")
    if answer.note:
        print(f"note: {answer.note}")
    shown = answer.citations or []
    if shown:
        print("\nsources:")
    for c in shown:
        about = ", ".join(x for x in (c.source, c.date, f"p. {c.page}" if c.page else None, c.lang) if x)
        print(f"  [{c.n}] {c.name} ({about}) chars {c.start}-{c.end}")
        print(textwrap.indent(textwrap.fill(f"«{c.quote}»", 96), "      "))
        for line in citation_extras(c):
            print(textwrap.indent(textwrap.fill(line, 96), "      "))
    if answer.refused and answer.passages:
        print("\nrelated passages:")
        for i, p in enumerate(answer.passages, 1):
            print(f"  [{i}] {p.source} score {p.score:.3f}: {p.text[:120]}…")


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False))


if __name__ == "__main__":
    # One question and out: the ~300k objects the library, the store and the model's client make live until
    # exit, so the collector would only walk them (~0.3 s while importing, ~0.6 s at exit, measured).
    gc.disable()
    code = main()
    gc.freeze()  # the collection at exit runs even when disabled; frozen objects are left out of it
    sys.exit(code)
