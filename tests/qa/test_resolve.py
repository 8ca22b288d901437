"""qa/resolve.py: a question is searched alone unless it leans on the one before it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.errors import InputError
from qa.resolve import SCALARS, WEIGHTS, Resolver, check_history, shown_quotes, user_questions
from qa.types import Answer, AnswerMode

HISTORY = [
    {"role": "user", "content": "How many people were killed in the missile attack on Dnipro?"},
    {"role": "assistant", "content": "«… three people were killed …» [1]"},
]


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver.load()


@pytest.mark.parametrize(
    "question",
    [
        "And in Kyiv?",
        "E quanti sono i feriti?",
        "Et selon qui ?",
        "Und wer hat das gesagt?",
        "¿Y por qué?",
        "Po sa prej tyre u plagosën?",
        "وكم منهم أصيبوا؟",
    ],
)
def test_an_elliptical_question_is_searched_with_the_one_before(resolver, embedder, question):
    r = resolver.resolve(question, HISTORY, embedder.queries)
    assert r.used_context and r.searched == f"{HISTORY[0]['content']} {question}" and r.rewritten == r.searched


@pytest.mark.parametrize(
    "question",
    [
        "Which US envoy does Zelenskyy say is heading to Kyiv?",
        "Who won the 2022 World Cup?",
        "Qual è la capitale della Slovenia?",
        "Wie viel Geld stellen die G7-Staaten der Ukraine zur Verfügung?",
        "ما هي عاصمة أستراليا؟",
    ],
)
def test_a_question_that_stands_alone_is_searched_as_asked(resolver, embedder, question):
    r = resolver.resolve(question, HISTORY, embedder.queries)
    assert not r.used_context and r.searched == question and r.rewritten is None
    assert r.joined == f"{HISTORY[0]['content']} {question}"


def test_without_history_nothing_is_joined(resolver, embedder):
    for history in (None, [], [{"role": "assistant", "content": "Hello"}], [{"role": "user", "content": "  "}]):
        r = resolver.resolve("And in Kyiv?", history, embedder.queries)
        assert r.searched == "And in Kyiv?" and not r.used_context and r.joined is None and not r.maybe


def test_a_follow_up_of_a_follow_up_keeps_the_topic(resolver, embedder):
    history = [*HISTORY, {"role": "user", "content": "And in Kyiv?"}, {"role": "assistant", "content": "…"}]
    r = resolver.resolve("How many of them were children?", history, embedder.queries)
    assert r.used_context and r.searched.startswith(HISTORY[0]["content"]) and "And in Kyiv?" in r.searched


def test_user_questions_skips_what_is_not_a_user_turn():
    history = [{"role": "user", "content": " a "}, {"role": "assistant", "content": "b"}, "junk", {"role": "user"}]
    assert user_questions(history) == ["a"]  # type: ignore[list-item]


def test_the_quotes_of_the_last_answer_are_what_the_user_has_read():
    history = [
        {"role": "user", "content": "How many were killed?"},
        {"role": "assistant", "content": "«Two died.» [1]"},
        {"role": "user", "content": "Where?"},
        {
            "role": "assistant",
            "content": "Uncertain: «It hit Dnipro on Friday [2024-11-15].» [1] «Sirens sounded.» [2]",
        },
    ]
    assert shown_quotes(history) == ("It hit Dnipro on Friday.", "Sirens sounded.")
    assert shown_quotes([{"role": "assistant", "content": "The articles do not say."}]) == ()
    assert shown_quotes(None) == () and shown_quotes([{"role": "assistant", "content": None}]) == ()


def test_a_follow_up_carries_what_the_previous_answer_quoted(resolver, embedder):
    history = [*HISTORY[:1], {"role": "assistant", "content": "«Three people were killed.» [1]"}]
    r = resolver.resolve("And how many were injured?", history, embedder.queries)
    assert r.used_context and r.seen == ("Three people were killed.",)


def test_the_shipped_weights_match_the_features_and_say_how_they_were_trained():
    doc = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    r = Resolver.load()
    assert r.weights.shape == (384 + len(SCALARS),) and 0 < r.maybe_threshold <= r.threshold < 1
    assert doc["training"]["source"].startswith("XQuAD") and "36-47 never read" in doc["training"]["source"]
    assert np.isfinite(r.weights).all()


def test_weights_of_other_features_are_refused(tmp_path):
    doc = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    doc["scalars"] = ["bias"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="trained with other features"):
        Resolver.load(path)


class _ChatMessage:
    """Shaped like LlamaIndex's ``ChatMessage``: a role enum whose value is the role, and a content."""

    class Role:
        value = "user"

    role = Role()
    content = "How many people were killed in the missile attack on Dnipro?"


def test_a_history_in_any_common_shape_is_read_as_the_same_messages():
    question, text = HISTORY[0]["content"], HISTORY[1]["content"]
    earlier = Answer(question=question, text=text, refused=False, mode=AnswerMode.EXTRACTIVE)
    parts = [
        {"role": "user", "content": [{"type": "text", "text": question}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": text},
    ]
    for shape in (HISTORY, [earlier], [(question, text)], [[question, text]], parts, tuple(HISTORY)):
        assert check_history(shape) == HISTORY, shape
    assert check_history([_ChatMessage()]) == HISTORY[:1]
    assert check_history([(question, None)]) == HISTORY[:1]  # a pair whose answer is still coming
    assert check_history([{"role": "assistant", "content": None}]) == [{"role": "assistant", "content": ""}]
    assert check_history(None) == [] and check_history([]) == []


@pytest.mark.parametrize(
    "history, words",
    [
        ("How many were killed?", "not a str"),
        ({"role": "user", "content": "x"}, "not a dict"),
        ([HISTORY[0], 42], "turn 2 is a int"),
        ([{"content": "x"}], 'turn 1 needs a text "role"'),
        ([{"role": "user", "content": 7}], 'turn 1 needs a text "role" and "content"'),
        ([("a", "b", "c")], "turn 1 is a tuple"),
    ],
)
def test_a_history_that_cannot_be_read_is_refused_saying_which_turn(history, words):
    with pytest.raises(InputError, match="history") as e:
        check_history(history)
    assert words in str(e.value)
