"""The local model server shared by the processes of this machine, found again through a record file.

With ``QA_LLM_IDLE`` > 0 the first process that needs the model starts the server detached (its own session,
not ended with that process) and records it in ``<cache_dir>/llm-server-<model>-<hash>.json``: pid, port, API
key, model, the settings it was started with, start time and log (mode 0600: it holds the key). The hash is
that of the model path and the settings, so a request for another model or thread count gets its own server
and never takes over one that others use. Later processes read the record, check that the pid is still that
server and that it answers with that key, and reuse it; an exclusive ``fcntl`` lock on the record's ``.lock``
file around find-or-start keeps concurrent first calls from starting two.

While a process uses the server it touches the record (:class:`Heartbeat`); the watcher in the server's own
process (``WATCH_RECORD``) takes the same lock, and when the record has not been touched for the idle time it
removes the record and its log and exits. It also exits when the record names another server.
Processes are told apart through ``/proc/<pid>/cmdline``, so a reused pid or a zombie is never taken for
the server (Linux).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "llm-server-"
CHECK_TIMEOUT = 3.0  # seconds for a recorded server to answer GET /v1/models before it counts as busy
STOP_GRACE = 10.0  # seconds a server has to end after SIGTERM before it is killed


# The watcher thread of a shared server's process (the start of its command line, before llama_cpp.server runs;
# arguments: record, lock, idle seconds, start grace). Nothing ties the server to the process that started it.
# Under the record's lock it ends the server, removing the record and its log, once the record has gone
# untouched for the idle time; it ends it at once when the record names another server, or when nothing
# recorded it within the start grace (the process that started it died while it loaded). Whatever goes wrong
# in the watcher ends the server too: one without its watcher would never end.
WATCH_RECORD = """
import fcntl, json, os, sys, threading, time
record, lock, idle, grace = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
del sys.argv[1:5]
def mine():
    try:
        with open(record) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    return entry if entry.get("pid") == os.getpid() else None
def watch():
    begun, recorded = time.monotonic(), False
    try:
        while True:
            time.sleep(min(1.0, idle / 4))
            with open(lock, "a") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                entry = mine()
                if entry is None:
                    if recorded or time.monotonic() - begun > grace:
                        return
                    continue
                recorded = True
                if time.time() - os.stat(record).st_mtime > idle:
                    os.unlink(record)
                    os.unlink(entry["log"])
                    return
    finally:
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
"""


@dataclass(frozen=True)
class Record:
    """A running shared server: what a process needs to use it, and what it was started with."""

    pid: int
    port: int
    key: str
    settings: dict[str, str | int]  # model path, threads, context and batch sizes
    started: float  # seconds since the epoch
    log: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def record_path(cache_dir: Path, settings: dict[str, str | int]) -> Path:
    """Where the server for these settings is recorded: one file per model and settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir / f"{PREFIX}{Path(str(settings['model'])).stem}-{digest}.json"


def lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the record's lock: one process at a time finds, starts, replaces or stops its server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(path), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def read(path: Path) -> Record | None:
    """The record at ``path``; None when there is none or it cannot be read (then it is replaced)."""
    try:
        return Record(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        log.warning("ignoring the unreadable local model server record %s: %s", path, e)
        return None


def write(path: Path, record: Record) -> None:
    """Write the record readable by this user only (it holds the key), replacing any other at once."""
    partial = path.with_suffix(".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(record), f)
    os.replace(partial, path)


def touch(path: Path) -> None:
    """Mark the server recorded at ``path`` as used now; a record just removed is left alone."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def runs(pid: int, path: Path) -> bool:
    """Whether ``pid`` is a live server started for the record at ``path``: not ended, not a zombie, not reused."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(path).encode() in args


def unusable(path: Path, record: Record, settings: dict[str, str | int]) -> str | None:
    """Why the recorded server cannot serve these settings, or None when it runs and answers with its key.

    A server answering another request holds ``/v1/models`` until it is done, so no answer within
    ``CHECK_TIMEOUT`` counts as busy, not as broken: the request then waits in its queue.
    """
    if record.settings != settings:
        return f"it was started with {record.settings}"
    if not runs(record.pid, path):
        return f"pid {record.pid} is no longer running"
    request = urllib.request.Request(record.url + "/models", headers={"Authorization": f"Bearer {record.key}"})
    try:
        with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT) as response:
            return None if response.status == 200 else f"it answered HTTP {response.status}"
    except urllib.error.HTTPError as e:
        return f"it answered HTTP {e.code}"
    except TimeoutError:
        return None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return None if isinstance(reason, TimeoutError) else f"it does not answer ({reason})"


def end(path: Path, record: Record) -> bool:
    """Stop the recorded server (SIGTERM to its group, SIGKILL after ``STOP_GRACE``) and remove its record and log.

    Call it holding the lock. Only a process that :func:`runs` for this record is signalled. Whether it ran.
    """
    running = runs(record.pid, path)
    if running:
        for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(record.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while runs(record.pid, path) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not runs(record.pid, path):
                break
    path.unlink(missing_ok=True)
    Path(record.log).unlink(missing_ok=True)
    return running


def stop_all(cache_dir: Path) -> list[Record]:
    """Stop every shared server recorded in ``cache_dir`` (``python -m qa model --stop``); those that ran."""
    stopped = []
    for path in sorted(cache_dir.glob(f"{PREFIX}*.json")):
        with locked(path):
            record = read(path)
            if record is not None and end(path, record):
                stopped.append(record)
    return stopped


class Heartbeat:
    """Touches a record every ``every`` seconds from a daemon thread until stopped: the server stays up while
    this process may still use it, however long one answer takes."""

    def __init__(self, path: Path, every: float) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(path, every), name="llm-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, path: Path, every: float) -> None:
        while not self._stopped.wait(every):
            touch(path)

    def stop(self) -> None:
        self._stopped.set()
