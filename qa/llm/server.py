"""Our own llama.cpp server for the bundled model: started on first use, shared, restarted after it died.

``llama_cpp.server`` speaks the OpenAI chat API, so the local model is used through the same client as any
hosted one (:mod:`qa.llm.local`). Starting, waiting for and stopping the process is :mod:`qa.process`; finding
a server another process left running is :mod:`qa.llm.shared`. What is here is what only this server needs:
its command line, the watcher that ends it (with its parent, or after ``QA_LLM_IDLE`` unused seconds), one
start at a time, a restart after it died, and its state for the page.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import qa.llm.shared as shared
from qa.config import Config
from qa.errors import LLMError, ProcessError
from qa.llm.files import QWEN_CODER_1_5B, ensure_model
from qa.process import Child, free_port, log_tail, start
from qa.types import LLMState

log = logging.getLogger(__name__)

N_CTX = 4096
# Prompt tokens per llama_decode call. On 2 cores 256 read an 800-token prompt at least as fast as 512
# (measured side by side) with a 35 MB smaller compute buffer.
N_BATCH = 256
START_GRACE = 30.0  # seconds beyond the start timeout a shared server waits to be recorded before it ends

# The end of every server's command line: llama_cpp.server, after a watcher thread that may end it has started.
RUN_SERVER = """
import runpy, sys
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""

# Ends a server when the process that started it is gone (killed, crashed): atexit does not run on a signal,
# and an orphaned server would hold 2 GB and a core until the machine restarts. Shared servers are watched by
# qa.llm.shared.WATCH_RECORD instead.
WATCH_PARENT = """
import os, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
"""


class LocalServer:
    """The ``llama_cpp.server`` this process uses, started on first use and shared by every question.

    With ``QA_LLM_IDLE`` > 0 it is shared with the other processes of this machine (:mod:`qa.llm.shared`): one
    left running by an earlier call is reused, one this process starts outlives it, and ``close()`` leaves it
    running for the others; it ends itself after the idle time. With ``QA_LLM_IDLE=0`` it is this process's
    child, ended with it, and ``close()`` (also registered with ``atexit``) terminates its process group.

    Starting is serialized by a lock, so concurrent users of the page wait for the same server instead of
    each launching one. A server that died is started again on the next request.

    The server's output goes to ``<cache_dir>/llm-server-<port>.log``: one file per server, because the
    page, the CLI and tests may each run one on the same cache folder. A clean stop deletes it, and so does a
    restart after the server died (its tail goes to our log first); the log of a failed start stays.
    """

    def __init__(self, config: Config, progress: bool = True, startup_timeout: float = 120.0) -> None:
        self.config = config
        self.progress = progress
        self.startup_timeout = startup_timeout
        self.model_name = config.model_path.stem if config.model_path else QWEN_CODER_1_5B.name
        self.log_path: Path | None = None
        self._lock = threading.Lock()
        self._child: Child | None = None  # the server this process started, if it did
        self._record: shared.Record | None = None  # the shared server in use (QA_LLM_IDLE > 0)
        self._record_path: Path | None = None
        self._heartbeat: shared.Heartbeat | None = None
        self._url = ""
        self._key = ""
        self._state = LLMState.NOT_STARTED
        self._failure = ""

    @property
    def state(self) -> LLMState:
        return self._state

    @property
    def status(self) -> str:
        """The state for people; a failure says why."""
        return f"{self._state.value}: {self._failure}" if self._state is LLMState.FAILED else self._state.value

    @property
    def pid(self) -> int | None:
        """The process of the server in use while it runs."""
        if self._state is not LLMState.READY or self.ended() is not None:
            return None
        if self._record is not None:
            return self._record.pid
        return self._child.proc.pid if self._child is not None else None

    def ensure_running(self) -> tuple[str, str]:
        """The base URL and API key of a healthy server, starting one (and the model) if there is none."""
        with self._lock:
            if self._state is LLMState.READY and self.ended() is None:
                if self._record_path is not None:
                    shared.touch(self._record_path)
                return self._url, self._key
            child = self._child
            if child is not None and self.config.llm_idle <= 0:  # ours died (a shared one is replaced as stale)
                log.warning(
                    "the local model server exited with code %s; starting it again. Log tail:\n%s",
                    child.proc.poll(),
                    log_tail(child.log_path),
                )
                self._child = None
                child.log_path.unlink(missing_ok=True)
            try:
                model = self._model()
                if self.config.llm_idle > 0:
                    self._share(model)
                else:
                    self._start(model)
            except LLMError as e:
                self._failure = str(e)
                self._state = LLMState.FAILED
                raise
            self._state = LLMState.READY
            return self._url, self._key

    def ended(self, wait: float = 0.0) -> str | None:
        """Why the server in use is gone ("exit code -9"), or None while it runs or before one was started.

        ``wait`` gives a server whose connection just broke time to finish dying, to tell a crash from a
        slow answer. Only a server this process started has an exit code to show.
        """
        child, record = self._child, self._record
        if child is not None:
            try:
                return f"exit code {child.proc.wait(timeout=wait)}"
            except subprocess.TimeoutExpired:
                return None
        if record is None or self._record_path is None:
            return None
        deadline = time.monotonic() + wait
        while shared.runs(record.pid, self._record_path):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)
        return f"pid {record.pid} is gone"

    def settings(self, model: Path) -> dict[str, str | int]:
        """What a shared server must have been started with to serve this process."""
        return {"model": str(model.resolve()), "threads": self.config.llm_threads, "n_ctx": N_CTX, "n_batch": N_BATCH}

    def command(self, model: Path, port: int, key: str) -> list[str]:
        """The server's command line.

        No ``--chat_format``: the server then formats chats with the GGUF's own template, the one the model
        was trained with. No ``--cache``: the server already keeps the KV cache of the previous request and
        reads only what follows the shared prefix (the fixed system prompt); the RAM cache would add a copy
        of the whole state after every answer, which pays only when differently-prefixed prompts alternate.
        """
        threads = str(self.config.llm_threads)
        # fmt: off
        return [
            *self._launcher(model),
            "--model", str(model.resolve()), "--model_alias", self.model_name,
            # One argument "--api_key=KEY": a random key may start with "-", which argparse reads as a flag.
            "--host", "127.0.0.1", "--port", str(port), f"--api_key={key}",
            "--n_ctx", str(N_CTX), "--n_batch", str(N_BATCH), "--n_ubatch", str(N_BATCH),
            "--n_threads", threads, "--n_threads_batch", threads,
            # Only the last token's logits are needed to sample; the server's default (all tokens) read
            # prompts ~25% slower here and took 1 GB more memory (2.9 GB instead of 1.9 GB resident).
            "--logits_all", "false",
            # By default a new request cuts off the stream in progress with a normal-looking end,
            # which would silently truncate one user's answer when another user asks; queue instead.
            "--interrupt_requests", "false",
        ]
        # fmt: on

    def _launcher(self, model: Path) -> list[str]:
        """The Python that runs the server: watching this process, or (shared) watching its record."""
        if self.config.llm_idle <= 0:
            return [sys.executable, "-c", WATCH_PARENT + RUN_SERVER, str(os.getpid())]
        path = shared.record_path(self.config.cache_dir, self.settings(model))
        grace = self.startup_timeout + START_GRACE
        watch = [str(path), str(shared.lock_path(path)), repr(self.config.llm_idle), repr(grace)]
        return [sys.executable, "-c", shared.WATCH_RECORD + RUN_SERVER, *watch]

    def _model(self) -> Path:
        if find_spec("llama_cpp") is None:  # say so before downloading a model we could not serve
            raise LLMError(
                "the local model needs the 'local' extra: pip install -e '.[local]' (builds llama.cpp "
                "for this CPU in a few minutes), or set QA_LLM=openai or QA_LLM=none"
            )
        if self.config.model_path is not None:
            return self.config.model_path
        self._state = LLMState.PREPARING
        return ensure_model(self.config.cache_dir, progress=self.progress)

    def _share(self, model: Path) -> None:
        """Reuse the server recorded for these settings if it runs and answers; else start and record one."""
        settings = self.settings(model)
        path = self._record_path = shared.record_path(self.config.cache_dir, settings)
        with shared.locked(path):
            record = shared.read(path)
            why = shared.unusable(path, record, settings) if record is not None else None
            if record is not None and why is None:
                if self._child is not None and self._child.proc.pid != record.pid:
                    self._child = None
                self._record, self._url, self._key = record, record.url, record.key
                self.log_path = Path(record.log)
                shared.touch(path)
            else:
                if record is not None:
                    log.warning(
                        "replacing the local model server recorded in %s: %s. Log tail:\n%s",
                        path,
                        why,
                        log_tail(Path(record.log)),
                    )
                    shared.end(path, record)
                self._record = None
                child, port = self._start(model)
                self._record = shared.Record(
                    child.proc.pid, port, self._key, settings, time.time(), str(child.log_path)
                )
                shared.write(path, self._record)
        if self._heartbeat is None:  # three beats within the idle time, at most one a minute
            self._heartbeat = shared.Heartbeat(path, every=min(max(self.config.llm_idle / 3, 0.5), 60.0))

    def _start(self, model: Path) -> tuple[Child, int]:
        """Start a server on a free port with a new key and wait until it answers; the process and its port."""
        self._state = LLMState.STARTING
        port = free_port()
        self._key = secrets.token_urlsafe(24)  # keeps other local users and browser pages off the server
        self._url = f"http://127.0.0.1:{port}/v1"
        self.log_path = self.config.cache_dir / f"llm-server-{port}.log"
        cmd = self.command(model, port, self._key)
        log.info("starting the local model server: %s", " ".join(cmd).replace(self._key, "***"))
        # The server also reads its settings from environment variables of the same names: CONFIG_FILE
        # would replace every flag, CHAT_FORMAT the GGUF's template.
        env = {k: v for k, v in os.environ.items() if k.upper() not in ("CONFIG_FILE", "CHAT_FORMAT")}
        started = time.monotonic()
        try:
            child = self._child = start(cmd, self._url + "/models", self.log_path, env=env)
        except (ProcessError, OSError) as e:
            raise LLMError(f"the local model server did not start: {e}") from e
        atexit.unregister(self.close)  # once per server object, however often it restarts
        atexit.register(self.close)
        ready = False
        try:
            child.wait_ready(self.startup_timeout, headers={"Authorization": f"Bearer {self._key}"})
            ready = True
        except ProcessError:
            # Said again in our words: the child's name in ProcessError's message is the whole guard script.
            code = child.proc.poll()
            why = (
                f"exited with code {code} while starting"
                if code is not None
                else f"was not ready after {self.startup_timeout:.0f} s"
            )
            raise LLMError(f"the local model server {why}; log {self.log_path}:\n{log_tail(self.log_path)}") from None
        finally:
            if not ready:  # also on Ctrl-C: a shared server is not tied to this process
                self._stop()
        log.info("local model server ready at %s in %.1f s", self._url, time.monotonic() - started)
        return child, port

    def close(self) -> None:
        """Done with the server. Our own one (``QA_LLM_IDLE=0``) is stopped with its whole process group; a
        shared one is left running for other processes until its idle time has passed. Safe to call twice;
        the next request starts or finds a server again.

        The lock is taken with a timeout: at interpreter exit a daemon thread may still hold it mid-start,
        and stopping the child matters more than waiting for that thread.
        """
        locked = self._lock.acquire(timeout=5)
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
            if self.config.llm_idle > 0:
                if self._record_path is not None:  # its idle time counts from now
                    shared.touch(self._record_path)
            else:
                clean = self._state is LLMState.READY and self.ended() is None
                self._stop()
                if clean and self.log_path is not None:
                    self.log_path.unlink(missing_ok=True)
            self._record = None
            self._state = LLMState.NOT_STARTED
        finally:
            if locked:
                self._lock.release()
        atexit.unregister(self.close)

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(shared.STOP_GRACE)
