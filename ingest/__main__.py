"""``python -m ingest [PATH ...] [--store DIR] [--prune] [--json]``: files and folders into the store.

With no PATH the bundled sample corpus is ingested. Exit status: 0 all went in, 3 done but some files
were rejected (listed on stderr), 1 nothing could be done (bad path, store busy or unusable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ingest.load import require_paths
from ingest.sync import sync
from qa.config import BUNDLED_ARTICLES, Config
from qa.embed import Embedder
from qa.errors import QAError
from qa.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.split("\n")[0])
    ap.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (.txt .md .html); default: the bundled corpus"
    )
    ap.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    ap.add_argument("--prune", action="store_true", help="delete articles whose files are gone")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    paths = a.paths or [BUNDLED_ARTICLES]
    try:
        require_paths(paths)
        config = Config.from_env(store=a.store)
        embedder = Embedder.from_config(config)
        store = open_store(config, embedder.name, embedder.dim, create=True)
        report = sync(paths, store, embedder, config, prune=a.prune, progress=not (a.quiet or a.json))
    except QAError as e:
        print(f"ingest: error: {e}", file=sys.stderr)
        return 1
    for f in report.failed:
        print(f"ingest: skipped {f.path}: {f.reason}", file=sys.stderr)
    if a.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(f"ingest: {report.summary()} -> {config.store_location}")
    return 3 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
