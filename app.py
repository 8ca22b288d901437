"""Serve the question-answering page (``qa.web.Page``) on this machine.

    python app.py [--host 127.0.0.1] [--port 7860] [--store DIR] [--llm local|openai|none]

The launcher wires the parts together: the assistant from the ``QA_*`` settings, the ingest package as the
page's library, the local model warmed up in the background, and SIGTERM handled like Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ingest.load import SUFFIXES
from ingest.sync import Ingester
from qa.answer import Assistant
from qa.config import LLM_MODES, Config, offline_environment
from qa.errors import QAError
from qa.web import Page
from qa.web.api import check_exposure

log = logging.getLogger("qa.app")


def parse_args(argv: list[str] | None, config: Config) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python app.py", description="The question-answering page.")
    ap.add_argument(
        "--host",
        default=config.host,
        help=f"address to listen on (default {config.host}, from QA_HOST; 127.0.0.1 is this machine only)",
    )
    ap.add_argument("--port", type=int, default=config.port, help=f"port (default {config.port}, from QA_PORT)")
    ap.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    ap.add_argument("--llm", choices=LLM_MODES, help="local | openai | none (default QA_LLM or local)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    offline_environment()
    try:
        config = Config.from_env()
        a = parse_args(argv, config)
        auth = config.login()
        check_exposure(a.host, config.api_token)
        qa = Assistant.from_env(create=True, store=a.store, llm=a.llm)
    except QAError as e:
        print(f"app: error: {e}", file=sys.stderr)
        return 1
    config = qa.config
    if qa.llm is not None:  # the local model: prepare it while the first user reads the page
        threading.Thread(target=_warm_up, args=(qa.start_llm,), name="llm-warm-up", daemon=True).start()
    log.info("store %s, %d articles; answers: %s", config.store_location, len(qa.articles()), qa.llm_status())
    page = Page(qa, Ingester(qa.store, qa.embedder, config), sorted(SUFFIXES))
    # SIGTERM (service managers, test harnesses) ends the server like Ctrl-C, so the local model stops too.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        page.launch(
            a.host,
            a.port,
            api_token=config.api_token,
            api_owner=auth[0] if auth else None,
            auth=auth,
            auth_message="Log in with the QA_AUTH user and password." if auth else None,
            max_file_size=f"{config.max_file_mb:g}mb",
            allowed_paths=[],
            blocked_paths=[str(Path(config.store).resolve()), str(config.cache_dir.resolve())],
            footer_links=[],
            ssr_mode=False,
            mcp_server=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        qa.close()
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _warm_up(start: Callable[[], None]) -> None:
    try:
        start()
    except QAError as e:  # the status line shows it; the first question will try again
        log.warning("the language model could not be prepared: %s", e)


if __name__ == "__main__":
    sys.exit(main())
