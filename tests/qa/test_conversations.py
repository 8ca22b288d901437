"""qa.conversations on real SQLite files: turns written as answers complete, newest first, one owner's only,
rename and delete, and the two ways the file fails (corrupt, locked by another connection)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qa.answer import Assistant
from qa.config import Config
from qa.conversations import LOCAL_OWNER, Conversations, answer_from_dict, conversations_path, owner_of
from qa.errors import ConversationsError, InputError, NotFound
from qa.export import answer_markdown
from qa.types import Answer
from qa.web.render import render_answer, render_sources

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
KILLED = "How many people were killed in the missile attack on Dnipro?"


@pytest.fixture(scope="module")
def answers(assistant: Assistant) -> list[Answer]:
    return [assistant.ask(QUESTION, k=3), assistant.ask(KILLED, k=2)]


@pytest.fixture
def saved(tmp_path) -> Conversations:
    return Conversations(tmp_path / "conversations.sqlite3", busy_timeout=0.2)


def test_turns_come_back_as_the_answers_that_were_saved(saved, answers, tmp_path):
    c = saved.create("ann", QUESTION)
    saved.append(c.id, "ann", answers[0], {"k": 3, "mode": "extractive"})
    saved.append(c.id, "ann", answers[1], {"k": 2, "mode": "extractive"})
    # A new object on the same file, as after a restart: everything written is there.
    got = Conversations(tmp_path / "conversations.sqlite3").get(c.id, "ann")
    assert (got.title, got.size, [t.position for t in got.turns]) == (QUESTION, 2, [1, 2])
    assert got.turns[1].settings == {"k": 2, "mode": "extractive"} and got.turns[0].question == QUESTION
    assert got.turns[0].timings == answers[0].timings
    for turn, answer in zip(got.answers(), answers):
        assert turn.to_dict() == answer.to_dict()
        assert render_sources(turn, 1) == render_sources(answer, 1)
        assert render_answer(turn, 2) == render_answer(answer, 2)
        assert answer_markdown(turn) == answer_markdown(answer)
    assert answers[0].citations and "<mark" in render_sources(got.answers()[0], 1)
    assert answer_from_dict(answers[0].to_dict()).citations == answers[0].citations


def test_newest_first_and_continuing_one_moves_it_to_the_top(saved, answers):
    first = saved.create(LOCAL_OWNER, "first")
    saved.create(LOCAL_OWNER, "second")
    assert [c.title for c in saved.list(LOCAL_OWNER)] == ["second", "first"]
    saved.append(first.id, LOCAL_OWNER, answers[0], {"k": 3})
    listed = saved.list(LOCAL_OWNER)
    assert [(c.title, c.size, c.turns) for c in listed] == [("first", 1, []), ("second", 0, [])]
    assert listed[0].updated > listed[0].created


def test_each_owner_sees_only_their_own_and_other_ids_are_not_found(saved, answers):
    ann = saved.create("ann", "Ann's secret question")
    saved.append(ann.id, "ann", answers[0], {"k": 3})
    bob = saved.create("bob", "Bob's question")
    assert [c.id for c in saved.list("ann")] == [ann.id] and [c.id for c in saved.list("bob")] == [bob.id]
    assert saved.list(LOCAL_OWNER) == []
    calls = [
        lambda i: saved.get(i, "bob"),
        lambda i: saved.rename(i, "bob", "mine now"),
        lambda i: saved.delete(i, "bob"),
        lambda i: saved.append(i, "bob", answers[1], {}),
    ]
    for call in calls:
        with pytest.raises(NotFound) as other:
            call(ann.id)
        with pytest.raises(NotFound) as unknown:
            call("no-such-id")
        assert "secret" not in str(other.value)
        assert str(other.value).replace(ann.id, "X") == str(unknown.value).replace("no-such-id", "X")
    assert saved.get(ann.id, "ann").title == "Ann's secret question" and saved.get(ann.id, "ann").size == 1


def test_rename_and_delete(saved, answers, tmp_path):
    c = saved.create("ann", "  a\n first   question ")
    assert c.title == "a first question"
    saved.append(c.id, "ann", answers[0], {})
    assert saved.rename(c.id, "ann", "Paris summit").title == "Paris summit"
    assert saved.list("ann")[0].title == "Paris summit"
    with pytest.raises(InputError, match="cannot be empty"):
        saved.rename(c.id, "ann", "   ")
    assert len(saved.rename(c.id, "ann", "x" * 500).title) == 200
    saved.delete(c.id, "ann")
    assert saved.list("ann") == []
    with pytest.raises(NotFound):
        saved.get(c.id, "ann")
    with sqlite3.connect(tmp_path / "conversations.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone() == (0,)


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    saved = Conversations(path)
    for call in (lambda: saved.list("ann"), lambda: saved.create("ann", "q")):
        with pytest.raises(ConversationsError, match="is corrupt .* move it away or delete it"):
            call()


def test_a_locked_database_is_a_clear_error_and_reads_go_on(saved, answers):
    c = saved.create("ann", QUESTION)
    other = sqlite3.connect(saved.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE conversations SET title = title")
        with pytest.raises(ConversationsError, match="locked by another program .* try again"):
            saved.append(c.id, "ann", answers[0], {})
        assert [x.size for x in saved.list("ann")] == [0]  # WAL: the writer does not block readers
    finally:
        other.execute("ROLLBACK")
        other.close()
    saved.append(c.id, "ann", answers[0], {})
    assert saved.get(c.id, "ann").size == 1


def test_where_the_file_lives():
    assert conversations_path(Config(store=Path("/s"))) == Path("/s/conversations.sqlite3")
    server = Config(store=Path("/s"), cache_dir=Path("/c"), chroma_url="http://127.0.0.1:8000")
    assert conversations_path(server) == Path("/c/conversations.sqlite3")
    assert owner_of(None) == LOCAL_OWNER and owner_of("") == LOCAL_OWNER and owner_of("ann") == "ann"


def test_a_citation_s_copies_times_and_page_survive_the_json():
    from qa.types import AnswerMode, Citation, Passage, Reprint, TimeRef

    copy = Reprint("https://example.org/copy", "2024-12-28", "example.org")
    cited = Citation(
        1, "a.pdf", "met on Thursday", 0, 15, True, date="2024-12-27", page=3, copies=(copy,),
        times=(TimeRef("Thursday", 7, 15, "2024-12-26"),),
    )  # fmt: skip
    passage = Passage("a.pdf:0", "a.pdf", "a.pdf", "met on Thursday", 0, 15, page=3, copies=(copy,))
    answer = Answer("When?", "«met on Thursday [2024-12-26]» [1]", False, AnswerMode.EXTRACTIVE, [cited], [passage])
    back = answer_from_dict(json.loads(json.dumps(answer.to_dict())))
    assert back.citations == [cited] and back.passages[0].page == 3 and back.passages[0].copies == (copy,)
