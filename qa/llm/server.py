"""Our own llama.cpp server for the bundled model: a child process started on first use, shared, restarted.

``llama_cpp.server`` speaks the OpenAI chat API, so the local model is used through the same client as any
hosted one (:mod:`qa.llm.local`). Starting, waiting for and stopping the child is :mod:`qa.process`; what is
here is what only this server needs: its command line, a guard that ends it with its parent, one start at a
time, a restart after it died, and its state for the page.
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
STOP_GRACE = 10.0  # seconds the server has to end after SIGTERM before it is killed

# Runs llama_cpp.server, and ends it when the process that started it is gone (killed, crashed): atexit
# does not run on a signal, and an orphaned server would hold 2 GB and a core until the machine restarts.
GUARDED_SERVER = """
import os, runpy, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


class LocalServer:
    """One ``llama_cpp.server`` child process, started on first use and shared by every question.

    Starting is serialized by a lock, so concurrent users of the page wait for the same server instead of
    each launching one. A server that died is started again on the next request. The child runs in its own
    process group, which ``close()`` (also registered with ``atexit``) terminates as a whole.

    The server's output goes to ``<cache_dir>/llm-server-<port>.log``: one file per server, because the
    page, the CLI and tests may each run one on the same cache folder. Closing deletes it, and so does a
    restart after the server died (its tail goes to our log first); the log of a failed start stays.
    """

    def __init__(self, config: Config, progress: bool = True, startup_timeout: float = 120.0) -> None:
        self.config = config
        self.progress = progress
        self.startup_timeout = startup_timeout
        self.model_name = config.model_path.stem if config.model_path else QWEN_CODER_1_5B.name
        self.log_path: Path | None = None
        self._lock = threading.Lock()
        self._child: Child | None = None
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
        child = self._child
        return child.proc.pid if child is not None and child.proc.poll() is None else None

    def ensure_running(self) -> tuple[str, str]:
        """The base URL and API key of a healthy server, starting one (and the model) if there is none."""
        with self._lock:
            child = self._child
            if child is not None and child.proc.poll() is None:
                return self._url, self._key
            if child is not None:
                log.warning(
                    "the local model server exited with code %s; starting it again. Log tail:\n%s",
                    child.proc.returncode,
                    log_tail(child.log_path),
                )
                self._child = None
                child.log_path.unlink(missing_ok=True)
            try:
                self._start()
            except LLMError as e:
                self._failure = str(e)
                self._state = LLMState.FAILED
                raise
            self._state = LLMState.READY
            return self._url, self._key

    def exit_code(self, wait: float = 0.0) -> int | None:
        """The exit code if the server was started and has since died, else None.

        ``wait`` gives a server whose connection just broke time to finish dying, to tell a crash from a
        slow answer.
        """
        child = self._child
        if child is None:
            return None
        try:
            return child.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

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
            sys.executable, "-c", GUARDED_SERVER, str(os.getpid()),
            "--model", str(model), "--model_alias", self.model_name,
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

    def _start(self) -> None:
        if find_spec("llama_cpp") is None:  # say so before downloading a model we could not serve
            raise LLMError(
                "the local model needs the 'local' extra: pip install -e '.[local]' (builds llama.cpp "
                "for this CPU in a few minutes), or set QA_LLM=openai or QA_LLM=none"
            )
        if self.config.model_path is not None:
            model = self.config.model_path
        else:
            self._state = LLMState.PREPARING
            model = ensure_model(self.config.cache_dir, progress=self.progress)
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
        try:
            child.wait_ready(self.startup_timeout, headers={"Authorization": f"Bearer {self._key}"})
        except ProcessError:
            # Said again in our words: the child's name in ProcessError's message is the whole guard script.
            code = child.proc.poll()
            why = (
                f"exited with code {code} while starting"
                if code is not None
                else f"was not ready after {self.startup_timeout:.0f} s"
            )
            failure = LLMError(f"the local model server {why}; log {self.log_path}:\n{log_tail(self.log_path)}")
            self._stop()
            raise failure from None
        log.info("local model server ready at %s in %.1f s", self._url, time.monotonic() - started)

    def close(self) -> None:
        """Stop the server and its whole process group. Safe to call twice; the next request restarts it.

        The lock is taken with a timeout: at interpreter exit a daemon thread may still hold it mid-start,
        and stopping the child matters more than waiting for that thread.
        """
        locked = self._lock.acquire(timeout=5)
        try:
            clean = self._state is LLMState.READY and self.exit_code() is None
            self._stop()
            if clean and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)
            self._state = LLMState.NOT_STARTED
        finally:
            if locked:
                self._lock.release()
        atexit.unregister(self.close)

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(STOP_GRACE)
