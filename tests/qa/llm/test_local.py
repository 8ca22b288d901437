"""qa/llm/local.py: the local model dying mid-answer is said so, the answer falls back to a quote, and the next
question starts the server again.

Runs the real llama.cpp server on the real model in ``~/.cache/qa`` (assembled if missing).
"""

from __future__ import annotations

import os
import signal

import pytest

from qa.answer import Assistant

TROOPS = "How many additional North Korean soldiers went to Russia early this year?"  # a figure: a line


@pytest.mark.slow
def test_the_local_server_dying_mid_answer_gives_a_quote_and_the_next_question_restarts_it(local_llm, assistant, gone):
    qa = Assistant(assistant.config, assistant.embedder, assistant.store, local_llm)
    local_llm.start()
    first = local_llm.server.pid
    items = []
    for item in qa.stream(TROOPS):
        if isinstance(item, str) and not items:
            os.kill(first, signal.SIGKILL)  # the model has started writing: its server dies mid-answer
        items.append(item)
    final = items[-1]
    assert any(isinstance(i, str) for i in items[:-1]), "nothing was streamed before the server died"
    assert final.mode == "extractive" and not final.refused and final.citations, final
    assert "the local model server stopped (exit code -9); it is started again on the next question" in final.note
    assert "this answer quotes the articles directly" in final.note and "3,000" in final.citations[0].quote
    again = qa.ask(TROOPS)
    assert again.mode == "llm" and not again.refused and "3,000" in again.text, (again.text, again.note)
    assert local_llm.server.pid not in (None, first) and gone(first)
    local_llm.close()
