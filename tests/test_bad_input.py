"""Bad input across the command line, the Python API and the page's callbacks, on the real store.

Each case gets a clear, specific message and changes nothing. Cases that one module's tests already cover
are listed (with those tests) in the README's "Bad input" table; this file holds the ones that cross modules.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import pytest

import ingest.__main__ as ingest_cli
import qa.__main__ as qa_cli
from ingest.load import SUFFIXES
from ingest.sync import Ingester
from qa.answer import Assistant
from qa.errors import InputError
from qa.store import open_store
from qa.web import Page

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
HUGE = "Where " + "really " * 14_285  # 100,001 characters, 100,000 once the last space is stripped
ARTICLE = (
    "Environment ministers from Albania and North Macedonia agreed on Tuesday in Pogradec to ban trout "
    "fishing in Lake Ohrid for three years, to let the endangered koran trout recover.\n"
)


def page_on(assistant: Assistant) -> Page:
    return Page(assistant, Ingester(assistant.store, assistant.embedder, assistant.config), sorted(SUFFIXES))


def test_a_100000_character_question_is_refused_by_the_api_the_cli_and_the_page(assistant, corpus, qa_env, capsys):
    message = "the question is 100,000 characters long; keep it under 2,000"
    for call in (assistant.ask, assistant.search):
        with pytest.raises(InputError, match=message):
            call(HUGE)
    assert qa_cli.main(["ask", HUGE, "--store", str(corpus.config.store)]) == 1
    assert message in capsys.readouterr().err
    with pytest.raises(gr.Error, match=message):
        list(page_on(assistant).respond(HUGE, [], [], [], 5, "llm"))


@pytest.mark.parametrize(
    "question, k, message",
    [
        ("Where did Lavrov meet Kim?\ud800", 5, "unpaired surrogate characters"),
        ("Where did Lavrov\x1b[2J meet Kim?", 5, "control characters"),
        ("\n\t  ", 5, "the question is empty"),
        (QUESTION, 0, "k must be from 1 to 50, not 0"),
        (QUESTION, -2, "k must be from 1 to 50, not -2"),
        (QUESTION, 10**6, "k must be from 1 to 50, not 1000000"),
    ],
    ids=["surrogate", "escape-sequence", "whitespace", "k0", "k-negative", "k-huge"],
)
def test_bad_questions_and_k_on_the_page_are_messages_before_any_work(assistant, question, k, message):
    steps = []
    with pytest.raises(gr.Error, match=message):
        for step in page_on(assistant).respond(question, [], [], [], k, "llm"):
            steps.append(step)
    assert steps == []  # not even the question bubble was shown


# --- uploads on the page, ingested for real into a copy of the store ----------------------------------------


@pytest.fixture
def page(tmp_path, corpus, embedder, make_config) -> Page:
    store = tmp_path / "store"
    shutil.copytree(corpus.config.store, store, ignore=shutil.ignore_patterns("*.lock"))
    config = make_config(store)
    return page_on(Assistant(config, embedder, open_store(config, embedder.name, embedder.dim), llm=None))


def browser_upload(root: Path, name: str, content: bytes) -> str:
    """A file as Gradio hands it to the callback: in a folder of its own, under the name the browser sent."""
    folder = root / "gradio" / str(len(list(root.glob("gradio/*"))))
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)
    return str(folder / name)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "gradio" not in p.parts}


def test_an_upload_named_to_climb_out_of_the_folder_lands_inside_uploads(page, tmp_path, snapshot):
    before = files_under(tmp_path)
    out = page.add_uploads([browser_upload(tmp_path, "..\\..\\..\\x.txt", ARTICLE.encode())])
    assert out[1].startswith("Added 1")
    new = files_under(tmp_path) - before
    assert {f for f in new if not f.startswith("store/") or "uploads" in f} == {"store/uploads/x.txt"}
    assert any(m["source"] == "x.txt" for _, m in snapshot(page.assistant.store).values())


@pytest.mark.parametrize(
    "name, content, reason",
    [
        (
            "page.html",
            b"<html><head><script>var t = 'abcdefghijklmnopqrstuvwxyz';</script></head>"
            b"<body><script>render()</script><!-- no article here --></body></html>",
            "no article text found in this HTML page",
        ),
        ("photo.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)), "this looks like a binary file"),
        ("cp1252.txt", ARTICLE.replace("Pogradec", "Pogradeç").encode("cp1252"), "the bytes are not valid UTF-8"),
        ("copy-of-001.txt", None, "same text as"),
    ],
    ids=["scripts-only-html", "binary", "wrong-encoding", "duplicate-under-another-name"],
)
def test_an_upload_that_cannot_be_ingested_is_refused_and_changes_nothing(
    page, corpus, tmp_path, snapshot, name, content, reason
):
    if content is None:  # a bundled article under another name
        source = next(Path(m["path"]) for _, m in snapshot(corpus.store).values() if m["source"].startswith("001_"))
        content = source.read_bytes()
    before, files = snapshot(page.assistant.store), files_under(tmp_path)
    with pytest.raises(gr.Error, match=f"nothing was added.*{reason}"):
        page.add_uploads([browser_upload(tmp_path, name, content)])
    assert snapshot(page.assistant.store) == before
    assert {f for f in files_under(tmp_path) - files if "uploads" in f} == set()


def test_two_uploads_with_the_same_text_under_different_names_go_in_once(page, tmp_path, snapshot):
    with pytest.warns(UserWarning, match="b.txt: same text as .*a.txt"):
        out = page.add_uploads(
            [browser_upload(tmp_path, "a.txt", ARTICLE.encode()), browser_upload(tmp_path, "b.txt", ARTICLE.encode())]
        )
    assert out[1].startswith("Added 1")
    assert sorted(p.name for p in (Path(page.assistant.config.store) / "uploads").iterdir()) == ["a.txt"]
    assert [m["source"] for _, m in snapshot(page.assistant.store).values()].count("a.txt") >= 1


# --- folders given to ingest ----------------------------------------------------------------------------


def test_a_symlink_loop_and_a_self_referencing_link_are_skipped(tmp_path, qa_env, capsys):
    news = tmp_path / "news"
    news.mkdir()
    (news / "ohrid.txt").write_text(ARTICLE)
    (news / "loop").symlink_to(news, target_is_directory=True)  # news/loop/loop/... for ever, if followed
    (news / "self.txt").symlink_to(news / "self.txt")
    (news / "gone.txt").symlink_to(tmp_path / "deleted-long-ago.txt")
    assert ingest_cli.main([str(news), "--store", str(tmp_path / "store"), "--quiet"]) == 3
    out, err = capsys.readouterr()
    assert err == (
        f"ingest: skipped {news / 'gone.txt'}: cannot read it (No such file or directory)\n"
        f"ingest: skipped {news / 'self.txt'}: cannot read it (a symbolic link loop)\n"
    )
    assert out.startswith("ingest: 1 added, 0 updated, 0 deleted, 0 skipped, 2 failed;")
