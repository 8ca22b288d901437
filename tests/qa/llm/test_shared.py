"""qa/llm/shared.py: the local model server shared by the processes of a machine (``QA_LLM_IDLE`` > 0).

The ``slow`` tests run the real llama.cpp server on the real model (from ``~/.cache/qa``, assembled if missing)
with a temporary cache folder, and stop every server they started. Other processes are real ``python``
subprocesses; the only fake is a server that refuses its key.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import qa.__main__ as qa_cli
from qa.config import PROJECT_DIR, Config
from qa.errors import ConfigError
from qa.llm import LocalServer, shared
from qa.process import free_port, start

# What a later `python -m qa ask` does with the model: find or start the server, ask, close.
USE = """
import json
from qa.config import Config
from qa.llm import LocalLLM
llm = LocalLLM(Config.from_env(), progress=False)
reply = llm.complete([{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=8)
print(json.dumps({"pid": llm.server.pid, "reply": reply}))
llm.close()
"""

# A process recorded as the server that refuses the recorded key (its cmdline names the record, as a real one's).
REFUSING = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Refuse(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ready" else 401)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[2])), Refuse).serve_forever()
"""


def config(cache: Path, model: Path, idle: float = 300, threads: int = 2) -> Config:
    return Config(llm="local", cache_dir=cache, model_path=model, llm_idle=idle, llm_threads=threads, llm_timeout=600)


def only_record(cache: Path) -> tuple[Path, shared.Record]:
    paths = list(cache.glob("llm-server-*.json"))
    assert len(paths) == 1, paths
    record = shared.read(paths[0])
    assert record is not None
    return paths[0], record


def eventually(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def use(cli_env, shared_cache, model_file) -> Callable[..., subprocess.Popen]:
    """``use()``: a new ``python`` process that answers with the shared model, as a shell's ``qa ask`` would."""
    env = {**cli_env, "QA_CACHE_DIR": str(shared_cache), "QA_MODEL_PATH": str(model_file), "QA_LLM": "local"}

    def run() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", USE],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    return run


def finished(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_qa_llm_idle_is_read_from_the_environment_and_never_negative():
    assert Config().llm_idle == 300
    assert Config.from_env({"QA_LLM_IDLE": "0"}).llm_idle == 0
    with pytest.raises(ConfigError, match="QA_LLM_IDLE must be 0"):
        Config.from_env({"QA_LLM_IDLE": "-1"})


def test_a_record_is_private_read_back_and_named_by_model_and_settings(tmp_path):
    settings: dict[str, str | int] = {"model": "/models/a.gguf", "threads": 2, "n_ctx": 4096, "n_batch": 256}
    path = shared.record_path(tmp_path, settings)
    record = shared.Record(123, 8080, "k3y", settings, 1.5, str(tmp_path / "llm-server-8080.log"))
    shared.write(path, record)
    assert shared.read(path) == record and record.url == "http://127.0.0.1:8080/v1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the key
    assert path.name.startswith("llm-server-a-") and path.parent == tmp_path.resolve()
    assert shared.record_path(tmp_path, {**settings, "threads": 1}) != path
    assert shared.record_path(tmp_path, {**settings, "model": "/models/b.gguf"}) != path
    path.write_text("{not json")
    assert shared.read(path) is None  # replaced by the next start, never trusted


def test_a_pid_counts_as_the_server_only_while_it_runs_for_that_record(tmp_path):
    path = tmp_path / "llm-server-x.json"
    assert not shared.runs(os.getpid(), path)  # a live process, but not started for this record
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(path)]) as proc:
        assert eventually(lambda: shared.runs(proc.pid, path), 10)
        proc.kill()
        assert eventually(lambda: not shared.runs(proc.pid, path), 10)  # a zombie, not yet reaped, has ended
    assert not shared.runs(proc.pid, path)


def test_model_stop_with_no_server_running_says_so(tmp_path, qa_env, capsys):
    qa_env.setenv("QA_CACHE_DIR", str(tmp_path))
    assert qa_cli.main(["model", "--stop"]) == 0
    assert f"no local model server was running for {tmp_path}" in capsys.readouterr().out


@pytest.mark.slow
def test_a_second_process_reuses_the_server_the_first_left_running_until_stopped(
    use, shared_cache, model_file, run_cli
):
    first = finished(use())
    path, record = only_record(shared_cache)
    assert record.pid == first["pid"] and shared.runs(record.pid, path)  # it outlived the process that started it
    assert record.settings["model"] == str(model_file.resolve()) and record.settings["threads"] == 2

    second = finished(use())
    assert second["pid"] == first["pid"] and "paris" in second["reply"].lower()
    logs = list(shared_cache.glob("llm-server-*.log"))
    assert logs == [Path(record.log)]  # no second server was started

    stopped = run_cli("qa", "model", "--stop", env={"QA_CACHE_DIR": str(shared_cache)})
    assert stopped.returncode == 0 and f"pid {record.pid} on port {record.port}" in stopped.stdout, stopped
    assert not shared.runs(record.pid, path) and not path.exists() and not logs[0].exists()


@pytest.mark.slow
def test_two_first_calls_at_once_start_one_server(use, shared_cache):
    calls = [use(), use()]
    pids = {finished(c)["pid"] for c in calls}
    _, record = only_record(shared_cache)
    assert pids == {record.pid}
    assert len(list(shared_cache.glob("llm-server-*.log"))) == 1


@pytest.mark.slow
def test_an_idle_server_stops_itself_and_removes_its_record_and_log(shared_cache, model_file):
    server = LocalServer(config(shared_cache, model_file, idle=3))
    server.ensure_running()
    path, record = only_record(shared_cache)
    time.sleep(8)  # well past the idle time, but this process still holds it: its heartbeat keeps it up
    assert shared.runs(record.pid, path) and server.ended() is None
    server.close()  # leaves it running: the idle time counts from here
    assert shared.runs(record.pid, path)
    assert eventually(lambda: not path.exists() and not shared.runs(record.pid, path)), "still running"
    assert not Path(record.log).exists()


@pytest.mark.slow
@pytest.mark.parametrize("who", ["dead", "foreign"])
def test_a_stale_record_is_replaced_without_signalling_its_pid(who, shared_cache, model_file):
    server = LocalServer(config(shared_cache, model_file))
    settings = server.settings(model_file)
    path = shared.record_path(shared_cache, settings)
    if who == "dead":
        with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
            pass
        pid = gone.pid
    else:
        pid = os.getpid()  # alive, but not a server: this test process must survive the replacement
    shared.write(path, shared.Record(pid, free_port(), "old-key", settings, 0.0, str(shared_cache / "old.log")))
    server.ensure_running()
    record = shared.read(path)
    assert record is not None and record.pid == server.pid and record.pid != pid
    assert shared.runs(record.pid, path)
    server.close()


@pytest.mark.slow
def test_a_recorded_server_that_refuses_its_key_is_stopped_and_replaced(shared_cache, model_file):
    server = LocalServer(config(shared_cache, model_file))
    settings = server.settings(model_file)
    path = shared.record_path(shared_cache, settings)
    port = free_port()
    fake = start(
        [sys.executable, "-c", REFUSING, str(path), str(port)], f"http://127.0.0.1:{port}/ready", shared_cache / "f.log"
    )
    try:
        fake.wait_ready(30)
        shared.write(path, shared.Record(fake.proc.pid, port, "key", settings, time.time(), str(fake.log_path)))
        server.ensure_running()
        assert fake.proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        fake.stop(5)
    record = shared.read(path)
    assert record is not None and record.pid == server.pid != fake.proc.pid
    server.close()


@pytest.mark.slow
def test_a_shared_server_that_died_is_started_again_and_other_threads_get_their_own(shared_cache, model_file):
    server = LocalServer(config(shared_cache, model_file))
    server.ensure_running()
    path, first = only_record(shared_cache)
    os.kill(first.pid, signal.SIGKILL)
    assert server.ended(wait=10) == "exit code -9"
    server.ensure_running()
    again = shared.read(path)
    assert again is not None and again.pid == server.pid != first.pid and shared.runs(again.pid, path)

    other = LocalServer(config(shared_cache, model_file, threads=1))
    other.ensure_running()
    assert other.pid not in (None, again.pid) and shared.runs(again.pid, path)  # the first is left alone
    assert len(list(shared_cache.glob("llm-server-*.json"))) == 2
    server.close()
    other.close()
