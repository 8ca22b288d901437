"""The model as a reader of numbered candidates (``qa.read``): its verdict on the real local llama.cpp server,
what the assistant does with it, and what happens when it fails (a scripted fake, for fault injection only)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.answer import Assistant
from qa.config import Config
from qa.errors import ConfigError, LLMError
from qa.read import READ, read
from tests.qa.test_answer import TROOPS, ScriptedLLM

SENTENCES = [
    "The Baltic Sea region is on high alert after a series of outages affecting power cables.",
    "Three people were killed when a Russian missile hit residential areas of Dnipro on Friday evening.",
    "G7 leaders finalised a plan to provide Ukraine with about $50 billion in loans.",
]


def reading(assistant: Assistant, llm) -> Assistant:
    """The assistant with ``llm`` choosing among the selector's best candidates (``QA_READER=llm``)."""
    return Assistant(replace(assistant.config, reader="llm"), assistant.embedder, assistant.store, llm=llm)


def test_the_model_reads_only_when_chosen():
    assert not Config(llm="openai").model_reads and not Config(llm="local").model_reads
    assert Config(llm="local", reader="llm").model_reads and Config(llm="openai", reader="llm").model_reads
    assert Config.from_env({"QA_READER": "llm", "QA_LLM": "none"}).reader == "llm"
    with pytest.raises(ConfigError, match="QA_READER must be one of selector, llm"):
        Config.from_env({"QA_READER": "oracle"})


def test_a_reply_naming_no_sentence_shown_is_an_error():
    with pytest.raises(LLMError, match="named no sentence it was shown"):
        read(ScriptedLLM(["7"]), "How many people were killed in Dnipro?", SENTENCES)
    with pytest.raises(LLMError, match="named no sentence"):
        read(ScriptedLLM(["none of them"]), "How many people were killed in Dnipro?", SENTENCES)
    with pytest.raises(ValueError, match="1 to 9 sentences"):
        read(ScriptedLLM([]), "How many?", [])


def test_the_model_sees_the_question_and_every_sentence_numbered_under_a_grammar():
    llm = ScriptedLLM(["2"])
    got = read(llm, "How many people were killed in Dnipro?", SENTENCES)
    assert got.choice == 1 and got.reply == "2"
    prompt = llm.prompts[0][-1]["content"]
    assert all(f"[{i}] {s}" in prompt for i, s in enumerate(SENTENCES, 1))
    assert llm.grammars == ["root ::= [0-3]"]


def test_when_the_model_fails_to_read_the_selector_chooses(assistant):
    alone = assistant.ask(TROOPS)
    llm = ScriptedLLM([LLMError("the endpoint is down"), LLMError("the endpoint is down")])
    a = reading(assistant, llm).ask(TROOPS)
    assert not a.refused and a.citations[0] == alone.citations[0]


@pytest.mark.slow
def test_the_real_model_points_at_the_sentence_that_answers_or_at_none(local_llm):
    # The bundled 1.5B model is a weak reader (docs/decisions.md): these three are ones it reads right.
    assert read(local_llm, "How many people were killed in the missile attack on Dnipro?", SENTENCES).choice == 1
    assert read(local_llm, "How much money will the G7 lend Ukraine?", SENTENCES).choice == 2
    assert read(local_llm, "Who won the football World Cup in 2022?", SENTENCES).choice is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "How many people were killed in the missile attack on Dnipro?",
        "How much money did the G7 agree to lend Ukraine?",
        "Who did Lavrov meet in Wonsan?",
    ],
)
def test_the_assistant_quotes_a_sentence_the_real_model_was_shown_or_refuses(assistant, local_llm, question):
    # The bundled model reads few real candidates as answering (docs/decisions.md): either outcome is its own.
    a = reading(assistant, local_llm).ask(question)
    passages, ranked, selection = assistant._select(question, 5, None, "en")
    shown = {passages[ranked[i].n - 1].text[ranked[i].start : ranked[i].end] for i in selection.order[:READ]}
    assert a.timings["read_s"] is not None
    if a.refused:
        assert not a.citations and "found none that answers" in a.note
    else:
        # The quote is the sentence the model chose, with the neighbour that belongs to it (qa.select.neighbour).
        assert any(s in a.citations[0].quote for s in shown) and a.citations[0].verified and a.confidence is not None


@pytest.mark.slow
def test_an_off_topic_question_is_refused_by_the_real_model_reading(assistant, local_llm):
    off = reading(assistant, local_llm).ask("Who won the football World Cup in 2022?")
    assert off.refused and not off.citations and "found none that answers" in off.note
