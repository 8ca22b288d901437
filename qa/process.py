"""Child servers on this machine: a free port, a process started on it, and the wait until its URL answers.

One helper for every server we start: the local llama.cpp server, the page in the load test and the
browser test, and the Chroma server of the benchmarks. The child writes to a log file, which an error
quotes the tail of, and runs in its own process group so it can be stopped as a whole.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ProcessError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (its last 8 kB at most), or a placeholder."""
    if path is None:
        return "(no log)"
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Child:
    """A started child process, its log and the URL that answers once it is ready."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def wait_ready(self, timeout: float, headers: Mapping[str, str] | None = None, poll: float = 0.2) -> None:
        """Return once ``url`` answers HTTP 200; raise :class:`ProcessError` when the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(self.url, headers=dict(headers or {}))
        while True:
            if self.proc.poll() is not None:
                raise ProcessError(
                    f"{self.name} exited with code {self.proc.returncode} while starting; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"{self.name} did not answer on {self.url} within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(poll)

    @property
    def name(self) -> str:
        args = self.proc.args
        return " ".join(str(a) for a in args[:3]) if isinstance(args, (list, tuple)) else str(args)

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM to the child's process group, SIGKILL after ``grace`` seconds; its exit code."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:  # the group is already gone
                break
            try:
                return self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll()


def start(
    cmd: Sequence[str], url: str, log_path: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Child:
    """Start ``cmd`` in a new process group, its output to ``log_path``; the caller waits with ``wait_ready``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                list(cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
    except OSError as e:
        raise ProcessError(f"could not start {cmd[0]}: {e}") from e
    return Child(proc, url, log_path)


@contextmanager
def serving(
    cmd: Sequence[str],
    url: str,
    log_path: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace: float = 30.0,
) -> Iterator[Child]:
    """``start`` + ``wait_ready`` for the length of a block; the child is stopped however the block ends."""
    child = start(cmd, url, log_path, env=env, cwd=cwd)
    try:
        child.wait_ready(timeout)
        yield child
    finally:
        child.stop(grace)
