"""Small files ingest keeps beside a store: its write lock, the feeds' seen entries, the syndicated copies.

For a store folder they sit in it; for a Chroma server (no folder of ours) in the cache folder, named after the
server and collection, so two stores never share one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from qa.config import Config

log = logging.getLogger(__name__)


def beside_store(config: Config, stem: str, suffix: str) -> Path:
    """``<store>/<stem>-<collection><suffix>``, or ``<cache>/<stem>-<hash of server and collection><suffix>``."""
    if config.chroma_url:
        name = hashlib.sha256(f"{config.chroma_url}/{config.collection}".encode()).hexdigest()[:16]
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        return config.cache_dir / f"{stem}-{name}{suffix}"
    return Path(config.store) / f"{stem}-{config.collection}{suffix}"


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when there is none yet or it is unreadable (said in the log)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s is unreadable (%s); starting it afresh", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole to a temporary file and renamed into place: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
