"""qa.web.page: the callbacks of a page built on a real assistant and a real ingester (streaming, errors,
uploads confined to ``<store>/uploads``), the page's parts, and the launcher ``app.py``.

Fakes only inject faults: a model that writes a known draft, a stream that breaks, a library that is busy.
The real page in a real browser is tested in ``test_browser.py``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

import app
from ingest.load import SUFFIXES
from ingest.sync import Ingester
from qa.answer import Assistant
from qa.config import Config
from qa.conversations import LOCAL_OWNER, Conversations
from qa.errors import ConfigError, LLMError, StoreBusy
from qa.types import LLMState
from qa.web import Page
from qa.web.page import EXAMPLES

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
FIGURE = "How many additional North Korean soldiers went to Russia early this year?"  # its quote states a figure: the model is asked
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

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
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

    def stream(question, k=5, history=None, **filters):
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item

    return stream


def run(gen) -> list[tuple]:
    return list(gen)


# --- answers --------------------------------------------------------------------------------------------


def test_respond_streams_the_draft_then_replaces_it_with_the_verified_answer(corpus, embedder):
    llm = ScriptedLLM("In Pyong", "yang, 5,000 [1].")  # words the articles do not give: not verifiable
    steps = run(page_on(with_llm(corpus, embedder, llm)).respond(f"  {FIGURE} ", [], [], [], 4, "llm"))
    assert steps[0][0] == "" and "Searching the articles" in steps[0][1][-1]["content"]
    assert "In Pyongyang, 5,000 [1]." in steps[2][1][-1]["content"] and "qa-draft" in steps[2][1][-1]["content"]
    _, chat, history, turns, panel, _, _ = steps[-1]
    assert "qa-draft" not in chat[-1]["content"] and "Pyongyang" not in chat[-1]["content"]
    assert re.search(r'href="#src-1-\d"', chat[-1]["content"])
    assert history[0] == {"role": "user", "content": FIGURE}
    assert history[1]["role"] == "assistant" and "3,000" in history[1]["content"]
    assert turns[0][0] == FIGURE and "<mark" in panel
    assert len(llm.prompts) == 1 and panel.count('id="src-1-') == 4  # asked once, with k=4


def test_follow_up_sends_the_plain_text_history(assistant):
    history = [{"role": "user", "content": KILLED}, {"role": "assistant", "content": "Three [1]."}]
    steps = run(
        page_on(assistant).respond("e i feriti?", [{"role": "user", "content": "x"}], history, [("q", "")], 5, "llm")
    )
    assert f'Cercato: <q dir="auto">{KILLED} e i feriti?' in steps[-1][1][-1]["content"]  # in the question's language
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


# --- saved conversations --------------------------------------------------------------------------------


def user(name: str | None) -> SimpleNamespace:
    """What Gradio passes as ``gr.Request``, as far as the page reads it: the logged-in user's name."""
    return SimpleNamespace(username=name)


def saved_page(assistant: Assistant, tmp_path: Path, busy_timeout: float = 5.0) -> Page:
    conversations = Conversations(tmp_path / "conversations.sqlite3", busy_timeout=busy_timeout)
    return Page(
        assistant, Ingester(assistant.store, assistant.embedder, assistant.config), ALLOWED, conversations=conversations
    )


def ask(page: Page, question: str, state: tuple = ([], [], [], None), who: str | None = None) -> tuple:
    """One question through ``respond``: the final (box, chat, history, turns, panel, conversation, status)."""
    chat, history, turns, conversation = state
    return run(page.respond(question, chat, history, turns, 3, "extractive", conversation, request=user(who)))[-1]


def test_each_answer_is_saved_and_reopens_as_it_was_asked(assistant, tmp_path):
    page = saved_page(assistant, tmp_path)
    assert page_on(assistant).conversations.path == Path(assistant.config.store) / "conversations.sqlite3"
    _, chat, history, turns, panel, conversation, status = ask(page, QUESTION)
    assert conversation and status == ""
    _, chat, history, turns, panel, again, status = ask(page, KILLED, (chat, history, turns, conversation))
    assert again == conversation and status == ""
    listed, _ = page.conversation_list(conversation, user(None))
    assert [v for _, v in listed["choices"]] == [conversation] and listed["value"] == conversation
    assert listed["choices"][0][0].startswith(QUESTION[:40])

    # A new conversation, then the saved one reopened: the same bubbles, the same sources panel and history.
    fresh = page.new_conversation()
    assert fresh[:5] == ([], [], [], page.new_conversation()[3], None)
    reopened = page.open_conversation(conversation, user(None))
    assert reopened[:4] == (chat, history, turns, panel) and "<mark" in reopened[3]
    assert reopened[4:] == (conversation, QUESTION, "")

    # A follow-up continues it; the conversation holds the settings of each turn.
    ask(page, "e quanti feriti?", reopened[:3] + (conversation,))
    got = page.conversations.get(conversation, LOCAL_OWNER)
    assert [t.question for t in got.turns] == [QUESTION, KILLED, "e quanti feriti?"]
    assert got.turns[0].settings == {"k": 3, "mode": "extractive"}


def test_rename_export_and_delete_through_the_page(assistant, tmp_path):
    page = saved_page(assistant, tmp_path)
    conversation = ask(page, QUESTION)[5]
    listed, message = page.rename_conversation(conversation, "  Paris summit ", user(None))
    assert listed["choices"][0][0].startswith("Paris summit · ") and message == "Renamed to *Paris summit*."
    exported = Path(page.export_conversation(conversation, user(None)))
    markdown = exported.read_text(encoding="utf-8")
    answer = page.conversations.get(conversation, LOCAL_OWNER).answers()[0]
    assert exported.name == "Paris-summit.md" and markdown.startswith("# Paris summit\n")
    assert answer.citations and all(f"«{c.quote}»" in markdown for c in answer.citations)
    out = page.delete_conversation(conversation, user(None))
    assert out[:3] == ([], [], []) and out[4] is None and out[5]["choices"] == []
    assert page.conversations.list(LOCAL_OWNER) == []
    for call in (page.rename_conversation, page.export_conversation, page.delete_conversation):
        with pytest.raises(gr.Error, match="before"):
            call(None, *(["t"] if call == page.rename_conversation else []))
    # An answer in a conversation deleted meanwhile (another tab) starts a new one.
    again = ask(page, KILLED, ([], [], [], conversation))
    assert again[5] != conversation and again[6] == ""


def test_with_a_login_each_user_sees_only_their_own(assistant, tmp_path):
    page = saved_page(assistant, tmp_path)
    ann = ask(page, QUESTION, who="ann")[5]
    bob = ask(page, KILLED, who="bob")[5]
    assert [v for _, v in page.conversation_list(None, user("ann"))[0]["choices"]] == [ann]
    assert [v for _, v in page.conversation_list(None, user("bob"))[0]["choices"]] == [bob]
    assert page.conversation_list(None, user(None))[0]["choices"] == []
    for call in (page.open_conversation, page.export_conversation, page.delete_conversation):
        with pytest.raises(gr.Error, match="no saved conversation"):
            call(ann, user("bob"))
    with pytest.raises(gr.Error, match="no saved conversation"):
        page.rename_conversation(ann, "mine", user("bob"))
    # Bob answering "in" Ann's conversation (a forged id) starts his own; Ann's is untouched.
    forged = ask(page, KILLED, ([], [], [], ann), who="bob")[5]
    assert forged not in (ann, bob) and page.conversations.get(ann, "ann").size == 1
    assert page.open_conversation(ann, user("ann"))[5] == QUESTION


def test_a_locked_or_corrupt_database_never_stops_an_answer(assistant, tmp_path):
    page = saved_page(assistant, tmp_path, busy_timeout=0.2)
    conversation = ask(page, QUESTION)[5]
    other = sqlite3.connect(page.conversations.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE conversations SET title = title")
        _, chat, _, _, panel, same, status = ask(page, KILLED, ([], [], [], conversation))
        assert "Dnipro" in chat[-1]["content"] or "qa-refused" in chat[-1]["content"]
        assert same == conversation and status.startswith("**Not saved:**") and "locked by another program" in status
    finally:
        other.execute("ROLLBACK")
        other.close()

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "conversations.sqlite3").write_bytes(b"not a database " * 200)
    page = saved_page(assistant, broken)
    listed, status = page.conversation_list(None, user(None))
    assert listed["choices"] == [] and status.startswith("**Conversations are not saved:**") and "corrupt" in status
    _, chat, _, _, panel, conversation, status = ask(page, QUESTION)
    assert "Paris" in chat[-1]["content"] and "<mark" in panel
    assert conversation is None and "corrupt" in status and "move it away or delete it" in status


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
    assert {"qa-conversations", "qa-rename", "qa-export", "qa-drop", "qa-new", "qa-saved-status"} <= ids
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


def test_every_example_on_the_page_and_the_demo_question_in_each_language_is_an_eval_case():
    from evals.dataset import load_cases

    questions = {c.question: c for c in load_cases()}
    assert all(q in questions and not questions[q].refuse for q in EXAMPLES)
    demo = {c.lang for c in questions.values() if c.id.startswith("demo-paris-")}
    assert demo == {"en", "ar", "sq", "fr", "de", "it", "es"}
