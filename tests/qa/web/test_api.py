"""qa.web.api over real HTTP: the page's FastAPI app (API + Gradio page) served by uvicorn on 127.0.0.1 in this
process, called with httpx and with the real ``openai`` client.

Fakes only inject faults: a slow model, so a streaming client can leave in the middle of an answer.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
import uvicorn

import app as launcher
from ingest.load import SUFFIXES
from ingest.sync import Ingester
from qa.answer import Assistant
from qa.conversations import LOCAL_OWNER, Conversations
from qa.errors import InputError
from qa.filters import Filters
from qa.process import free_port
from qa.retrieve import check_k, check_question
from qa.types import LLMState
from qa.web import Page

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
FIGURE = "How many additional North Korean soldiers went to Russia early this year?"  # its quote states a figure: the model is asked
G7 = "How much money did the G7 agree to provide to Ukraine?"
TOKEN = "test-token-0123456789"


@contextmanager
def serving(
    assistant: Assistant,
    token: str | None = None,
    conversations: Conversations | None = None,
    owner: str | None = None,
) -> Iterator[str]:
    """The page's app on a free port of 127.0.0.1 until the block ends (the API reading ``owner``'s conversations)."""
    library = Ingester(assistant.store, assistant.embedder, assistant.config)
    page = Page(assistant, library, sorted(SUFFIXES), conversations=conversations)
    port = free_port()
    app = page.server_app(token, owner, server_name="127.0.0.1", server_port=port, ssr_mode=False, footer_links=[])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def url(assistant) -> Iterator[str]:
    with serving(assistant) as u:
        yield u


def message(call) -> str:
    with pytest.raises(InputError) as e:
        call()
    return str(e.value)


def without_timings(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "timings"}


# --- the CLI's contract over HTTP ----------------------------------------------------------------------


def test_ask_search_and_articles_return_the_cli_contract(url, assistant):
    got = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60)
    assert got.status_code == 200, got.text
    data = got.json()
    assert without_timings(data) == without_timings(json.loads(json.dumps(assistant.ask(QUESTION).to_dict())))
    assert data["citations"] and "Paris" in data["answer"]
    assert set(data["timings"]) == {"retrieve_s", "first_token_s", "total_s"}

    found = httpx.post(f"{url}/api/search", json={"question": QUESTION, "k": 3}, timeout=60).json()
    assert found["question"] == QUESTION and [p["n"] for p in found["passages"]] == [1, 2, 3]
    assert [p["text"] for p in found["passages"]] == [p.text for p in assistant.search(QUESTION, k=3)]

    # Filters as in the CLI: only the Albanian articles, then a date range no article is in.
    albanian = httpx.post(f"{url}/api/search", json={"question": QUESTION, "langs": ["sq"]}, timeout=60).json()
    assert albanian["passages"] and {p["lang"] for p in albanian["passages"]} == {"sq"}
    past = {"question": QUESTION, "until": "1999"}
    assert httpx.post(f"{url}/api/ask", json=past, timeout=60).json()["refused"] is True

    listed = httpx.get(f"{url}/api/articles", timeout=30).json()["articles"]
    assert [a["source"] for a in listed] == [a.source for a in assistant.articles()]
    assert httpx.get(url, timeout=30).status_code == 200  # the page itself, on the same server


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"question": ""}, lambda: message(lambda: check_question(""))),
        ({"question": "   "}, lambda: message(lambda: check_question("   "))),
        ({"question": 42}, lambda: message(lambda: check_question(42))),
        ({"question": QUESTION, "k": 0}, lambda: message(lambda: check_k(0))),
        ({"question": QUESTION, "k": "5"}, lambda: message(lambda: check_k("5"))),
        ({}, lambda: message(lambda: check_question(None))),
        ({"question": QUESTION, "since": "2024-13"}, lambda: message(lambda: Filters.of(since="2024-13"))),
        ({"question": QUESTION, "langs": ["english"]}, lambda: message(lambda: Filters.of(langs=["english"]))),
    ],
)
def test_bad_input_gets_the_cli_message_and_400(url, body, expected):
    for route in ("/api/ask", "/api/search"):
        got = httpx.post(f"{url}{route}", json=body, timeout=30)
        assert got.status_code == 400, got.text
        assert got.json()["error"]["message"] == expected()


def test_malformed_json_is_400_and_a_large_body_is_413(url):
    bad = httpx.post(f"{url}/api/ask", content=b'{"question": "Where', timeout=30)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    listed = httpx.post(f"{url}/api/ask", json=["Where?"], timeout=30)
    assert listed.status_code == 400 and "JSON object" in listed.json()["error"]["message"]
    large = httpx.post(f"{url}/api/ask", json={"question": QUESTION, "pad": "x" * 70_000}, timeout=30)
    assert large.status_code == 413 and "64 kB" in large.json()["error"]["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"question": "' + b"x" * 40_000
        yield b"x" * 40_000 + b'"}'

    streamed = httpx.post(f"{url}/api/ask", content=chunked(), timeout=30)
    assert streamed.status_code == 413


def test_saved_conversations_are_listed_read_and_exported_for_their_owner_only(assistant, tmp_path):
    saved = Conversations(tmp_path / "conversations.sqlite3")
    mine = saved.create(LOCAL_OWNER, QUESTION)
    answers = [assistant.ask(QUESTION, k=3), assistant.ask(G7, k=3)]
    for answer in answers:
        saved.append(mine.id, LOCAL_OWNER, answer, {"k": 3, "mode": "extractive"})
    anns = saved.create("ann", "Ann's secret question")
    saved.append(anns.id, "ann", answers[1], {"k": 3})

    with serving(assistant, conversations=saved) as u:
        listed = httpx.get(f"{u}/api/conversations", timeout=30).json()["conversations"]
        assert [(c["id"], c["title"], c["size"]) for c in listed] == [(mine.id, QUESTION, 2)] and "turns" not in listed[
            0
        ]
        got = httpx.get(f"{u}/api/conversations/{mine.id}", timeout=30).json()
        assert [t["answer"] for t in got["turns"]] == [json.loads(json.dumps(a.to_dict())) for a in answers]
        assert got["turns"][1]["settings"] == {"k": 3, "mode": "extractive"} and got["turns"][1]["position"] == 2

        markdown = httpx.get(f"{u}/api/conversations/{mine.id}/export", params={"format": "md"}, timeout=30)
        assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
        assert markdown.text.startswith(f"# {QUESTION}\n") and f"## {G7}" in markdown.text
        quotes = [c.quote for a in answers for c in a.citations]
        assert quotes and all(f"«{q}»" in markdown.text for q in quotes)
        exported = httpx.get(f"{u}/api/conversations/{mine.id}/export?format=json", timeout=30).json()
        assert exported == {"title": QUESTION, "turns": [t["answer"] for t in got["turns"]]}
        bad = httpx.get(f"{u}/api/conversations/{mine.id}/export?format=pdf", timeout=30)
        assert bad.status_code == 400 and "?format=md" in bad.json()["error"]["message"]

        # Another owner's id is answered exactly like an unknown one: 404, nothing of it in the answer.
        for path in ("", "/export?format=md", "/export?format=json"):
            other = httpx.get(f"{u}/api/conversations/{anns.id}{path}", timeout=30)
            unknown = httpx.get(f"{u}/api/conversations/nope{path}", timeout=30)
            assert other.status_code == unknown.status_code == 404
            assert other.json()["error"]["type"] == "not_found_error" and "secret" not in other.text
            assert other.text.replace(anns.id, "X") == unknown.text.replace("nope", "X")

    with serving(assistant, conversations=saved, owner="ann") as u:  # QA_AUTH=ann:...: the API reads Ann's
        assert [c["id"] for c in httpx.get(f"{u}/api/conversations", timeout=30).json()["conversations"]] == [anns.id]
        assert httpx.get(f"{u}/api/conversations/{mine.id}", timeout=30).status_code == 404

    with serving(assistant, token=TOKEN, conversations=saved) as u:
        assert httpx.get(f"{u}/api/conversations", timeout=30).status_code == 401
        assert httpx.get(f"{u}/api/conversations/{mine.id}/export", timeout=30).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{u}/api/conversations/{mine.id}", headers=auth, timeout=30).status_code == 200


def test_a_token_is_required_when_set(assistant):
    with serving(assistant, token=TOKEN) as u:
        body = {"question": QUESTION}
        assert httpx.post(f"{u}/api/ask", json=body, timeout=30).status_code == 401
        wrong = httpx.post(f"{u}/api/ask", json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401 and "QA_API_TOKEN" in wrong.json()["error"]["message"]
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{u}/api/articles", timeout=30).status_code == 401
        right = httpx.post(f"{u}/api/ask", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert right.status_code == 200 and right.json()["citations"]
        client = openai.OpenAI(base_url=f"{u}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}])


def test_the_page_refuses_to_open_its_api_beyond_this_machine_without_a_token(qa_env, capsys):
    assert launcher.main(["--host", "0.0.0.0", "--llm", "none"]) == 1
    err = capsys.readouterr().err
    assert "QA_API_TOKEN" in err and "127.0.0.1" in err


# --- the OpenAI-compatible endpoint --------------------------------------------------------------------


def test_the_openai_client_gets_the_answer_with_markers_and_the_citations(url, assistant):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    expected = assistant.ask(G7)
    done = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": G7}])
    text = done.choices[0].message.content
    assert text == expected.text and "[1]" in text
    extra = done.model_extra or {}
    assert extra["citations"] == [c.to_dict() for c in expected.citations]
    assert all(c["quote"] in text for c in extra["citations"])
    assert extra["qa"]["question"] == G7

    chunks = list(client.chat.completions.create(model="qa", messages=[{"role": "user", "content": G7}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["citations"] == extra["citations"]

    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="qa", messages=[{"role": "user", "content": " "}])
    assert message(lambda: check_question(" ")) in str(bad.value)


def test_a_follow_up_in_the_chat_history_is_searched_with_the_question_before_it(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    first = "How many people were killed in the missile attack on Dnipro?"
    done = client.chat.completions.create(
        model="qa",
        messages=[
            {"role": "user", "content": first},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": [{"type": "text", "text": "e quanti feriti?"}]},
        ],
    )
    assert (done.model_extra or {})["qa"]["rewritten"] == f"{first} e quanti feriti?"
    # a history that cannot be read is a 400 naming the turn, on both faces, never dropped in silence
    with pytest.raises(openai.BadRequestError, match="history turn 1"):
        client.chat.completions.create(
            model="qa", messages=[{"content": first}, {"role": "user", "content": "e quanti feriti?"}]
        )
    bad = httpx.post(f"{url}/api/ask", json={"question": "e quanti feriti?", "history": [first]}, timeout=60)
    assert bad.status_code == 400 and "history turn 1 is a str" in bad.json()["error"]["message"]


def test_a_new_or_off_topic_question_in_a_chat_is_answered_as_if_asked_alone(url):
    """The same behaviour as the page and ``Assistant.ask(history=...)``, through both HTTP faces."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    before = [
        {"role": "user", "content": "What did Zelenskyy say about North Korean troops in Kursk?"},
        {"role": "assistant", "content": "«… back on the front line in Kursk …» [1]"},
    ]
    alone = httpx.post(f"{url}/api/ask", json={"question": G7}, timeout=60).json()
    chat = client.chat.completions.create(model="qa", messages=[*before, {"role": "user", "content": G7}])
    extra = (chat.model_extra or {})["qa"]
    assert extra["rewritten"] is None and extra["citations"] == alone["citations"]
    asked = httpx.post(f"{url}/api/ask", json={"question": G7, "history": before}, timeout=60).json()
    assert asked["rewritten"] is None and asked["answer"] == alone["answer"]
    off = "Who won the 2022 World Cup?"
    refused = httpx.post(f"{url}/api/ask", json={"question": off, "history": before}, timeout=60).json()
    assert refused["refused"] and refused["rewritten"] is None and refused["citations"] == []
    chat = client.chat.completions.create(model="qa", messages=[*before, {"role": "user", "content": off}])
    assert (chat.model_extra or {})["qa"]["refused"] is True


class SlowLLM:
    """A model that writes one word every 0.2 s, for a minute: a stream still going when its client leaves."""

    name = "slow"
    status = "ready"
    state = LLMState.READY

    def __init__(self) -> None:
        self.words = 0

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
        for _ in range(300):
            time.sleep(0.2)
            self.words += 1
            yield " Paris"

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        pass


def test_a_stream_closed_mid_answer_frees_the_server_for_the_next_question(corpus, embedder):
    slow = SlowLLM()
    with serving(Assistant(corpus.config, embedder, corpus.store, llm=slow)) as u:
        body = {"model": "qa", "stream": True, "messages": [{"role": "user", "content": FIGURE}]}
        with httpx.stream("POST", f"{u}/v1/chat/completions", json=body, timeout=30) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")  # the role chunk
            assert next(line for line in lines if line.startswith(":"))  # the model is writing
        written = slow.words
        t0 = time.monotonic()
        # The next question is answered once the abandoned one has stopped, at its next word.
        after = httpx.post(f"{u}/api/search", json={"question": G7}, timeout=30)
        assert after.status_code == 200 and after.json()["passages"]
        assert time.monotonic() - t0 < 5
        time.sleep(1)
        assert slow.words <= written + 2, "the abandoned answer went on being written"


# --- latency: the API over the Python API -------------------------------------------------------------


@pytest.mark.slow
def test_api_latency_over_the_python_api(url, assistant, capsys):
    questions = [QUESTION, G7] * 5
    direct, http = [], []
    with httpx.Client(timeout=60) as client:
        for q in questions:
            t0 = time.perf_counter()
            assistant.ask(q)
            direct.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert client.post(f"{url}/api/ask", json={"question": q}).status_code == 200
            http.append(time.perf_counter() - t0)
    with capsys.disabled():
        print(f"\np50 Assistant.ask {statistics.median(direct):.3f} s, /api/ask {statistics.median(http):.3f} s")
