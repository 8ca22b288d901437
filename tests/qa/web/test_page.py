"""qa.web.page: the callbacks of a page built on a real assistant and a real ingester (streaming, errors,
uploads confined to ``<store>/uploads``), the page's parts, and the launcher ``app.py``.

Fakes only inject faults: a model that writes a known draft, a stream that breaks, a library that is busy.
The real page in a real browser is tested in ``test_browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

import app
from ingest.load import SUFFIXES
from ingest.sync import Ingester
from qa.answer import Assistant
from qa.config import Config
from qa.errors import ConfigError, LLMError, StoreBusy
from qa.types import LLMState
from qa.web import Page
from qa.web.page import EXAMPLES

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
KILLED = "How many people were killed in the missile attack on Dnipro?"
ALLOWED = sorted(SUFFIXES)


class ScriptedLLM:
    """A model that streams a fixed draft and records its prompts (the shape of simonw/llm's mock model)."""

    name = "scripted"
    status = "ready"

    def __init__(self, *deltas: str, state: LLMState = LLMState.READY) -> None:
        self.deltas = deltas
        self.state = state
        self.prompts: list[list[dict]] = []

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        self.prompts.append(messages)
        yield from self.deltas

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        pass


def with_llm(corpus, embedder, llm: ScriptedLLM) -> Assistant:
    return Assistant(corpus.config, embedder, corpus.store, llm=llm)


def page_on(assistant: Assistant) -> Page:
    return Page(assistant, Ingester(assistant.store, assistant.embedder, assistant.config), ALLOWED)


def breaking(*script):
    """A stream that yields the script's items and raises the first exception in it."""

    def stream(question, k=5, history=None):
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item

    return stream


def run(gen) -> list[tuple]:
    return list(gen)


# --- answers --------------------------------------------------------------------------------------------


def test_respond_streams_the_draft_then_replaces_it_with_the_verified_answer(corpus, embedder):
    llm = ScriptedLLM("In Pyong", "yang, on Thursday [1].")  # a place the articles do not give: not verifiable
    steps = run(page_on(with_llm(corpus, embedder, llm)).respond(f"  {QUESTION} ", [], [], [], 4, "llm"))
    assert steps[0][0] == "" and "Searching the articles" in steps[0][1][-1]["content"]
    assert "In Pyongyang, on Thursday [1]." in steps[2][1][-1]["content"] and "qa-draft" in steps[2][1][-1]["content"]
    _, chat, history, turns, panel = steps[-1]
    assert "qa-draft" not in chat[-1]["content"] and "Pyongyang" not in chat[-1]["content"]
    assert re.search(r'href="#src-1-\d"', chat[-1]["content"])
    assert history[0] == {"role": "user", "content": QUESTION}
    assert history[1]["role"] == "assistant" and "Paris" in history[1]["content"]
    assert turns[0][0] == QUESTION and "<mark" in panel
    assert len(llm.prompts) == 1 and panel.count('id="src-1-') == 4  # asked once, with k=4


def test_follow_up_sends_the_plain_text_history(assistant):
    history = [{"role": "user", "content": KILLED}, {"role": "assistant", "content": "Three [1]."}]
    steps = run(
        page_on(assistant).respond("e i feriti?", [{"role": "user", "content": "x"}], history, [("q", "")], 5, "llm")
    )
    assert f'Searched for: <q dir="auto">{KILLED} e i feriti?' in steps[-1][1][-1]["content"]
    assert 'href="#src-2-' in steps[-1][1][-1]["content"]


def test_empty_question_is_a_gr_error_before_anything_changes(assistant):
    steps = []
    with pytest.raises(gr.Error, match="empty"):
        for step in page_on(assistant).respond("   ", [], [], [], 5, "llm"):
            steps.append(step)
    assert steps == []


def test_library_error_mid_stream_is_shown_in_the_chat_and_as_gr_error(corpus, embedder, monkeypatch):
    qa = with_llm(corpus, embedder, ScriptedLLM())
    monkeypatch.setattr(qa, "stream", breaking("Par", LLMError("the local model server stopped")))
    steps = []
    with pytest.raises(gr.Error, match="server stopped"):
        for step in page_on(qa).respond("Where?", [], [], [], 5, "llm"):
            steps.append(step)
    assert "qa-failed" in steps[-1][1][-1]["content"] and "server stopped" in steps[-1][1][-1]["content"]


def test_unexpected_error_never_shows_a_traceback(corpus, embedder, monkeypatch):
    qa = with_llm(corpus, embedder, ScriptedLLM())
    monkeypatch.setattr(qa, "stream", breaking(ZeroDivisionError("secret internals")))
    with pytest.raises(gr.Error) as e:
        run(page_on(qa).respond("Where?", [], [], [], 5, "llm"))
    assert "secret internals" not in str(e.value) and "ZeroDivisionError" in str(e.value)


def test_extractive_mode_uses_an_assistant_without_llm(corpus, embedder):
    qa = with_llm(corpus, embedder, ScriptedLLM())
    page = page_on(qa)
    quotes = page.answerer("extractive")
    assert quotes.llm is None and quotes is not qa and page.answerer("extractive") is quotes
    assert page.answerer("llm") is qa


def test_status_line_explains_a_model_being_prepared(corpus, embedder, assistant):
    preparing = page_on(with_llm(corpus, embedder, ScriptedLLM(state=LLMState.PREPARING)))
    assert preparing.status_line().startswith("**Answers:** scripted: ready — the first start prepares")
    assert page_on(assistant).status_line() == "**Answers:** extractive (no LLM)"


# --- uploads and deletions, ingested for real into a copy of the store ----------------------------------

ARTICLES = {
    "good.txt": "Environment ministers agreed on Tuesday in Pogradec to ban trout fishing in Lake Ohrid.",
    "..good2.md": "The city council of Durrës voted on Friday to build a new harbour for fishing boats.",
}


class BusyLibrary:
    """A library another ingest is writing to."""

    def add(self, paths, progress=False):
        raise StoreBusy("busy; wait")

    def delete(self, path):
        raise StoreBusy("busy; wait")


def test_uploads_are_copied_into_the_store_uploads_folder_only(writable, library, upload, tmp_path):
    files = [upload(name, text) for name, text in ARTICLES.items()] + [upload("virus.exe")]
    with pytest.warns(UserWarning, match="virus.exe: unsupported file type"):
        out = Page(writable, library, ALLOWED).add_uploads(files)
    uploads = Path(writable.config.store) / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["good.txt", "good2.md"]
    stored = {a.path for a in writable.articles()}
    assert {str((uploads / n).resolve()) for n in ("good.txt", "good2.md")} <= stored
    assert out[0] is None and out[1].startswith("Added 2")
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("store/**/virus.exe"))


def test_store_busy_during_upload_is_a_gr_error_and_leaves_no_copy(writable, upload):
    with pytest.raises(gr.Error, match="busy; wait"):
        Page(writable, BusyLibrary(), ALLOWED).add_uploads([upload("a.txt")])
    assert list((Path(writable.config.store) / "uploads").iterdir()) == []


def test_no_files_chosen_is_a_gr_error(writable, library):
    with pytest.raises(gr.Error, match="choose one or more files"):
        Page(writable, library, ALLOWED).add_uploads([])


def test_delete_removes_the_uploaded_copy_but_never_other_files(writable, library, upload, tmp_path):
    page = Page(writable, library, ALLOWED)
    page.add_uploads([upload("mine.txt", ARTICLES["good.txt"])])
    uploads = Path(writable.config.store) / "uploads"
    outside = tmp_path / "bundled.txt"
    outside.write_text(ARTICLES["..good2.md"])
    library.add([outside])
    page.delete(str((uploads / "mine.txt").resolve()))
    page.delete(str(outside.resolve()))
    assert not (uploads / "mine.txt").exists() and outside.exists()
    assert {a.source for a in writable.articles()} & {"mine.txt", "bundled.txt"} == set()
    with pytest.raises(gr.Error, match="choose an article"):
        page.delete(None)


# --- the page -------------------------------------------------------------------------------------------


def test_page_has_the_promised_parts(assistant):
    config = page_on(assistant).create_app().config
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"qa-chat", "qa-question", "qa-sources", "qa-upload", "qa-articles", "qa-pick", "qa-llm-status"} <= ids
    examples = [c for c in config["components"] if c.get("type") == "dataset"]
    text = str(examples)
    for q in EXAMPLES:
        assert q in text


# --- the launcher ---------------------------------------------------------------------------------------


def test_login_comes_from_qa_auth():
    assert Config().login() is None
    assert Config(auth="ann:s3:cret").login() == ("ann", "s3:cret")
    with pytest.raises(ConfigError, match="user:password"):
        Config(auth="ann").login()


def test_cli_defaults_are_local_only():
    a = app.parse_args([], Config.from_env({}))
    assert (a.host, a.port, a.store, a.llm) == ("127.0.0.1", 7860, None, None)
    assert app.parse_args(["--llm", "none"], Config.from_env({"QA_PORT": "9000"})).port == 9000
