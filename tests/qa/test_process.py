"""qa/process.py for real: a child server started on a free port, waited for, and stopped with its group."""

from __future__ import annotations

import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qa.errors import ProcessError
from qa.process import free_port, log_tail, serving, start

PYTHON = sys.executable


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie nobody reaps (an orphan, in a container without init) counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _http_server(port: int) -> list[str]:
    return [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_free_port_can_be_listened_on():
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_a_server_is_waited_for_answers_and_stops(tmp_path):
    (tmp_path / "hello.txt").write_text("hello from the child")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    child = start(_http_server(port), url, tmp_path / "logs" / "http.log", cwd=tmp_path)
    try:
        child.wait_ready(30)
        with urllib.request.urlopen(url + "hello.txt", timeout=5) as response:
            assert response.read() == b"hello from the child"
        assert child.url == url and (tmp_path / "logs" / "http.log").is_file()
    finally:
        code = child.stop(grace=10)
    assert code == -signal.SIGTERM and not _alive(child.proc.pid)


def test_serving_stops_the_child_when_the_block_ends(tmp_path):
    port = free_port()
    with serving(
        _http_server(port), f"http://127.0.0.1:{port}/", tmp_path / "http.log", timeout=30, cwd=tmp_path
    ) as child:
        assert child.proc.poll() is None
    assert child.proc.returncode is not None and not _alive(child.proc.pid)


def test_a_command_that_exits_at_once_is_a_process_error_with_its_log_tail(tmp_path):
    cmd = [PYTHON, "-c", "import sys; print('cannot load the model file'); sys.exit(3)"]
    child = start(cmd, f"http://127.0.0.1:{free_port()}/", tmp_path / "child.log")
    started = time.monotonic()
    with pytest.raises(ProcessError, match="exited with code 3 while starting") as err:
        child.wait_ready(600)
    # Told at once, not at the deadline: a bound no loaded machine comes near (it takes well under a second).
    assert time.monotonic() - started < 300
    assert "cannot load the model file" in str(err.value) and str(tmp_path / "child.log") in str(err.value)


def test_a_child_that_never_answers_is_a_process_error_at_the_deadline(tmp_path):
    cmd = [PYTHON, "-c", "print('still loading', flush=True); import time; time.sleep(60)"]
    port = free_port()
    child = start(cmd, f"http://127.0.0.1:{port}/", tmp_path / "child.log")
    try:
        started = time.monotonic()
        with pytest.raises(ProcessError, match=f"did not answer on http://127.0.0.1:{port}/ within 1 s") as err:
            child.wait_ready(1)
        assert 1 <= time.monotonic() - started < 15
        assert "still loading" in str(err.value)
    finally:
        child.stop(grace=10)
    assert not _alive(child.proc.pid)


def test_a_command_that_cannot_run_is_a_process_error(tmp_path):
    with pytest.raises(ProcessError, match="could not start /nonexistent/program"):
        start(["/nonexistent/program"], "http://127.0.0.1:1/", tmp_path / "child.log")


def test_stop_ends_the_whole_process_group(tmp_path):
    """The child's own children go too: the local model server runs under a guard process."""
    spawn = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    log_path = tmp_path / "child.log"
    child = start([PYTHON, "-c", spawn], "http://127.0.0.1:1/", log_path)
    deadline = time.monotonic() + 30
    while not log_path.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(log_path.read_text())
    assert _alive(grandchild)
    assert child.stop(grace=10) == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child.proc.pid) and not _alive(grandchild)


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path):
    log_path = tmp_path / "child.log"
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    child = start([PYTHON, "-c", code], "http://127.0.0.1:1/", log_path)
    deadline = time.monotonic() + 30
    while "ready" not in log_path.read_text() and time.monotonic() < deadline:  # SIGTERM is ignored from here
        time.sleep(0.05)
    assert child.stop(grace=0.5) == -signal.SIGKILL and not _alive(child.proc.pid)


def test_log_tail_gives_the_last_lines_or_a_placeholder(tmp_path):
    path = tmp_path / "server.log"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(path, lines=3) == "line 97\nline 98\nline 99"
    assert log_tail(None) == "(no log)" and log_tail(tmp_path / "missing.log") == "(no log)"
