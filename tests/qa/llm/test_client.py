"""qa/llm/client.py: failures of an OpenAI-compatible endpoint, and what the user gets when it misbehaves.

Fault injection runs against a fake endpoint served from a thread.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.answer import Assistant
from qa.errors import LLMError
from qa.llm import OpenAILLM
from qa.process import free_port
from qa.types import LLMState

KEY = "sk-test-Secret-7f3a9c21"


# --- a fake OpenAI-compatible endpoint ---------------------------------------------------------------


def _chunk(content) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
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
            self._send(status, "application/json", json.dumps({"error": {"message": f"boom {echo}".strip()}}).encode())
            return
        stream = {
            "ok": [_chunk("Hello"), _chunk(", world")],
            "empty": [_chunk(""), _chunk(None)],
            "malformed": [b"data: {this is not json\n\n"],
            "wrong-shape": [b'data: {"choices": "nope"}\n\n'],
            "endless": [_chunk("tok ")] * 5000,
            "stream-error": [_chunk("Hel"), b'data: {"error": {"message": "ran out of memory"}}\n\n'],
            "cites-99": [
                _chunk("European leaders will meet in Paris on Thursday [99]. "),
                _chunk("They will discuss aid for Ukraine [1][99]."),
            ],
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
    assert llm.state is LLMState.READY


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
    llm = OpenAILLM(f"http://127.0.0.1:{free_port()}/v1", "m", KEY, timeout=2)
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
TROOPS = "How many additional North Korean soldiers went to Russia early this year?"  # a figure: a line


def test_a_draft_citing_a_passage_that_does_not_exist_never_shows_it(fake, assistant):
    fake.mode = "cites-99"
    a = Assistant(assistant.config, assistant.embedder, assistant.store, OpenAILLM(fake.url, "m", KEY, timeout=10)).ask(
        PARIS
    )
    assert "[99]" not in a.text and a.citations and all(1 <= c.n <= len(a.passages) for c in a.citations)
    assert {int(n) for n in re.findall(r"\[(\d+)\]", a.text)} <= set(range(1, len(a.passages) + 1))
    assert all(c.verified for c in a.citations) and "Paris" in a.text


@pytest.mark.parametrize("mode", ["endless", "huge-deltas"])
def test_an_enormous_reply_is_cut_and_the_answer_stays_short(fake, assistant, mode):
    fake.mode = mode
    a = Assistant(assistant.config, assistant.embedder, assistant.store, OpenAILLM(fake.url, "m", KEY, timeout=10)).ask(
        TROOPS
    )
    # "Paris Paris ..." restates nothing the passages say: the reply is cut, then replaced by a quote
    assert a.mode == "extractive" and "could not be checked" in a.note, (a.mode, a.note)
    assert len(a.text) < 2000 and "Paris Paris" not in a.text and a.citations[0].verified
