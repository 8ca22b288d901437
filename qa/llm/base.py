"""What the answering code needs from a model, apart from any client library.

Its own module so that importing it (``qa.answer``, ``qa.phrase``) loads no client: ``python -m qa search``
never needs one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from qa.types import LLMState


class LLM(Protocol):
    """What the answering code needs from a model: a name to show, its state, and streamed text."""

    name: str

    @property
    def state(self) -> LLMState: ...

    @property
    def status(self) -> str:
        """The state as a line for people, with the reason of a failure."""
        ...

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
        """The reply as it arrives. ``grammar`` (GBNF) constrains it where the server supports grammars
        (llama.cpp); elsewhere it is ignored and the caller's checks of the text must hold alone."""
        ...

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str: ...

    def close(self) -> None: ...
