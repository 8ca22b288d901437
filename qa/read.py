"""A language model reads the selector's best candidates and says which one answers, or that none does.

The selector (``qa.select``) reads each sentence alone, through the small embedder; a capable model reads the
question and the sentences together, across languages. With ``QA_READER=llm`` the model is shown the ``READ``
best candidates, numbered, and replies with a number: that sentence is quoted first; 0 means none states the
answer, and the assistant refuses. Nothing the model writes is shown: it only points at a sentence, which is
quoted verbatim, so the citation is verified by construction whatever it says.

Measured with the bundled 1.5B model behind ``QA_LLM=openai`` (``docs/decisions.md``, "The reader, round three"),
the selector alone chooses far better, so the selector is the default for every model, and ``QA_READER=llm`` is
for an endpoint known to be stronger (the README's recipe of serving the bundled model on a bigger machine
must not turn it on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.errors import LLMError
from qa.llm import LLM
from qa.prompt import read_messages

READ = 5  # candidates the model reads (its prompt stays ~400 tokens: ~2.5 s of prompt reading on 2 cores)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Reading:
    """The model's verdict on the candidates it read: the 0-based position of the one that answers, or None
    when it says none does."""

    choice: int | None
    reply: str


def read(llm: LLM, question: str, sentences: list[str]) -> Reading:
    """Ask ``llm`` which of ``sentences`` (at most 9) answers ``question``.

    Raises ``LLMError`` when the model fails or its reply names no sentence it was shown."""
    if not 0 < len(sentences) <= 9:
        raise ValueError(f"the model reads 1 to 9 sentences, not {len(sentences)}")
    grammar = f"root ::= [0-{len(sentences)}]"
    reply = "".join(llm.stream(read_messages(question, sentences), max_tokens=4, grammar=grammar))
    found = _NUMBER.search(reply)
    number = int(found.group()) if found else -1
    if not 0 <= number <= len(sentences):
        raise LLMError(f"{llm.name} named no sentence it was shown (it replied {reply[:40]!r})")
    return Reading(number - 1 if number else None, reply)
