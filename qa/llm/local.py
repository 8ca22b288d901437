"""The bundled model as an :class:`~qa.llm.client.LLM`: our own server, reached through the OpenAI client.

It adds to :class:`~qa.llm.server.LocalServer` what a question needs: a client for the server's current
address and key (both change when it restarts), and an error that says the server died rather than that
the connection broke.
"""

from __future__ import annotations

from collections.abc import Iterator

from qa.config import Config
from qa.errors import LLMError
from qa.llm.client import OpenAILLM
from qa.llm.server import LocalServer
from qa.types import LLMState


class LocalLLM:
    """The bundled model on our own llama.cpp server: constructing is instant, the first question starts it."""

    def __init__(self, config: Config, progress: bool = True) -> None:
        self.server = LocalServer(config, progress=progress)
        self.name = f"local {self.server.model_name}"
        self._timeout = config.llm_timeout
        self._client: OpenAILLM | None = None
        self._client_for: tuple[str, str] = ("", "")

    @property
    def state(self) -> LLMState:
        return self.server.state

    @property
    def status(self) -> str:
        return self.server.status

    def start(self) -> None:
        """Prepare the model and start the server now, e.g. in the background while a page loads."""
        self._connect()

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
        client = self._connect()
        try:
            yield from client.stream(messages, max_tokens, grammar)
        except LLMError as e:
            why = self.server.ended(wait=1.0)
            if why is None:
                raise
            raise LLMError(
                f"the local model server stopped ({why}); it is started again on the next "
                f"question. Log: {self.server.log_path}"
            ) from e

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        self.server.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> OpenAILLM:
        url, key = self.server.ensure_running()
        client = self._client
        if client is None or self._client_for != (url, key):  # a restarted server has a new port and key
            if client is not None:
                client.close()
            client = self._client = OpenAILLM(
                url, self.server.model_name, key, self._timeout, name=self.name, grammars=True
            )
            self._client_for = (url, key)
        return client
