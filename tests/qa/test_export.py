"""qa.export: answers from the real assistant as Markdown and JSON, and ``qa ask --markdown``.

Fakes only inject faults: a model that fails, so the answer carries the note saying it was not phrased.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from qa.answer import Assistant
from qa.errors import LLMError
from qa.export import answer_markdown, conversation_json, conversation_markdown
from qa.text import one_line
from qa.types import LLMState

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
FIGURE = "How many additional North Korean soldiers went to Russia early this year?"  # its quote states a figure: the model is asked
G7 = "How much money did the G7 agree to provide to Ukraine?"
TROOPS = "Sa ushtarë të tjerë ka dërguar Koreja e Veriut në Rusi?"  # Albanian: several quotes
OFF_TOPIC = "What is the recipe for a good tiramisu?"


class FailingLLM:
    """A model endpoint that is down: the answer falls back to the quotes with a note."""

    name = "failing"
    status = "failed"
    state = LLMState.FAILED

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
        raise LLMError("connection refused by the test")
        yield ""

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        raise LLMError("connection refused by the test")

    def close(self) -> None:
        pass


def test_every_quote_appears_verbatim_with_its_title_date_and_source(assistant):
    for question in (QUESTION, G7, TROOPS):
        answer = assistant.ask(question)
        assert answer.citations and not answer.refused
        md = answer_markdown(answer)
        assert md.startswith(f"## {question}\n")
        assert answer.text in md
        lines = [line for line in md.splitlines() if line.startswith("- [")]
        assert len(lines) == len(answer.citations)
        for c, line in zip(answer.citations, lines, strict=True):
            # Verbatim up to white space: a quote that spans two lines of its article is listed on one.
            assert line.startswith(f"- [{c.n}] «{one_line(c.quote)}» — ")
            assert c.source in line and (c.title or "") in line and (c.date or "") in line
            assert f"characters {c.start}-{c.end}" in line
        assert "Extractive answer" in md


def test_a_refusal_says_so_with_its_reason_and_the_related_passages(assistant):
    answer = assistant.ask(OFF_TOPIC)
    assert answer.refused and answer.note
    md = answer_markdown(answer)
    assert "*Not answered: the articles do not say.*" in md
    assert f"*Note:* {answer.note}" in md
    assert "Related passages" in md and answer.passages[0].source in md


def test_an_answer_the_model_did_not_phrase_carries_the_note(corpus, embedder):
    answer = Assistant(corpus.config, embedder, corpus.store, llm=FailingLLM()).ask(FIGURE)
    assert answer.note and "language model failed" in answer.note
    md = answer_markdown(answer)
    assert f"*Note:* {answer.note}" in md
    assert all(f"«{c.quote}»" in md for c in answer.citations)


def test_a_conversation_exports_every_turn_in_order_and_as_the_json_contract(assistant):
    turns = [assistant.ask(QUESTION), assistant.ask(OFF_TOPIC)]
    md = conversation_markdown(turns, title=QUESTION)
    assert md.startswith(f"# {QUESTION}\n")
    assert md.index(f"## {QUESTION}") < md.index(f"## {OFF_TOPIC}")
    assert all(f"«{c.quote}»" in md for a in turns for c in a.citations)
    data = json.loads(json.dumps(conversation_json(turns, title=QUESTION)))
    assert data["title"] == QUESTION
    assert data["turns"] == json.loads(json.dumps([a.to_dict() for a in turns]))


@pytest.mark.integration
def test_qa_ask_markdown_prints_the_markdown(run_cli, corpus):
    done = run_cli("qa", "ask", QUESTION, "--markdown", "--store", corpus.config.store)
    assert done.returncode == 0, done.stderr
    answer = json.loads(run_cli("qa", "ask", QUESTION, "--json", "--store", corpus.config.store).stdout)
    assert done.stdout.startswith(f"## {QUESTION}\n")
    assert answer["citations"]
    assert all(f"«{c['quote']}»" in done.stdout for c in answer["citations"])
