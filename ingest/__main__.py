"""``python -m ingest [PATH|URL ...] [--feed URL] [--feeds FILE] [--store DIR] [--prune] [--json]``: into the store.

Files, folders (.txt .md .html .pdf), web pages by URL and the new entries of RSS/Atom feeds; with none of
them the bundled sample corpus is ingested. Exit status: 0 all went in, 3 done but some files
were rejected (listed on stderr), 1 nothing could be done (bad path, store busy or unusable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ingest.feeds import read_feed_list
from ingest.fetch import is_url
from ingest.load import require_paths
from ingest.sync import sync
from qa.config import BUNDLED_ARTICLES, Config
from qa.embed import Embedder
from qa.errors import QAError
from qa.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.split("\n")[0])
    ap.add_argument(
        "paths",
        nargs="*",
        help="files or folders (.txt .md .html), or http(s):// URLs of news pages; default: the bundled corpus",
    )
    ap.add_argument("--feed", action="append", default=[], help="an RSS or Atom feed URL: its new entries (repeatable)")
    ap.add_argument("--feeds", type=Path, help="a text file of feed URLs, one a line")
    ap.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    ap.add_argument("--prune", action="store_true", help="delete articles whose files are gone")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument(
        "--no-sentences",
        action="store_true",
        help="write passages only: each sentence vector is then computed by the first question that needs it "
        "(bulk imports; questions are slower until then)",
    )
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    urls = [p for p in a.paths if is_url(p)]
    paths = [Path(p) for p in a.paths if not is_url(p)] or ([] if urls or a.feed or a.feeds else [BUNDLED_ARTICLES])
    try:
        require_paths(paths)
        feeds = a.feed + (read_feed_list(a.feeds) if a.feeds else [])
        config = Config.from_env(store=a.store)
        embedder = Embedder.from_config(config)
        store = open_store(config, embedder.name, embedder.dim, create=True)
        report = sync(
            paths,
            store,
            embedder,
            config,
            prune=a.prune,
            progress=not (a.quiet or a.json),
            urls=urls,
            feeds=feeds,
            sentences=not a.no_sentences,
        )
    except QAError as e:
        print(f"ingest: error: {e}", file=sys.stderr)
        return 1
    for f in report.failed:
        print(f"ingest: skipped {f.path}: {f.reason}", file=sys.stderr)
    for c in report.copies:
        print(
            f"ingest: {c['path']} is a copy of {c['copy_of']} ({c['similarity']:.0%} of their word sequences alike); "
            + (
                "the copy was published earlier, so it replaces the stored page, now listed as its copy"
                if c.get("replaced")
                else "recorded as a copy, not stored again"
            ),
            file=sys.stderr,
        )
    if a.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(f"ingest: {report.summary()} -> {config.store_location}")
    return 3 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
