"""The :class:`~qa.llm.base.LLM` interface over any OpenAI-compatible endpoint.

Everything speaks the OpenAI chat API through the ``openai`` client, so our own llama.cpp server and any
hosted model are interchangeable. Every failure surfaces as :class:`~qa.errors.LLMError`, whose message
never contains the API key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

from qa.errors import LLMError
from qa.types import LLMState

log = logging.getLogger(__name__)

MAX_CHARS_PER_TOKEN = 16  # bounds a reply from a server that ignores max_tokens or sends huge deltas


class OpenAILLM:
    """A chat model behind any OpenAI-compatible endpoint, with every failure turned into ``LLMError``.

    ``timeout`` bounds both the wait for each piece of the answer and the whole answer; ``max_tokens`` is
    sent to the server and also enforced here, so a server that ignores it cannot stream without end.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "none",
        timeout: float = 60.0,
        name: str | None = None,
        grammars: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        host = parts.hostname or base_url  # never the user:password@ a URL may carry
        self.host = f"{host}:{parts.port}" if parts.port else host
        self.model = model
        self.name = name or f"openai {model} at {self.host}"
        self.timeout = timeout
        self.grammars = grammars  # the endpoint takes llama.cpp's "grammar" field (our own server does)
        self._key = api_key
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)

    @property
    def state(self) -> LLMState:
        """Always ready: an endpoint is only known to be down when a question fails."""
        return LLMState.READY

    @property
    def status(self) -> str:
        return self.state.value

    def stream(self, messages: list[dict], max_tokens: int = 256, grammar: str | None = None) -> Iterator[str]:
        deadline = time.monotonic() + self.timeout
        extra = {"grammar": grammar} if grammar and self.grammars else None
        deltas = chars = 0
        sent = cast("list[ChatCompletionMessageParam]", messages)  # plain dicts of that shape
        try:
            with self._client.chat.completions.create(
                model=self.model,
                messages=sent,
                stream=True,
                max_tokens=max_tokens,
                temperature=0,
                extra_body=extra,
            ) as chunks:
                for chunk in chunks:
                    text = self._text_of(chunk)
                    if not text:
                        continue
                    text = text[: max_tokens * MAX_CHARS_PER_TOKEN - chars]
                    deltas += 1
                    chars += len(text)
                    yield text
                    if deltas >= max_tokens or chars >= max_tokens * MAX_CHARS_PER_TOKEN:
                        log.info("%s: reply cut at max_tokens=%d", self.name, max_tokens)
                        return
                    if time.monotonic() > deadline:
                        raise LLMError(
                            f"{self.name} took longer than {self.timeout:.0f} s to answer "
                            "(QA_LLM_TIMEOUT); ask a shorter question or raise the timeout"
                        )
        except LLMError:
            raise
        except openai.APITimeoutError as e:
            raise LLMError(f"{self.name} did not answer within {self.timeout:.0f} s (QA_LLM_TIMEOUT)") from e
        except openai.APIConnectionError as e:
            raise LLMError(
                f"cannot reach {self.name}: is the server running and the address right "
                "(OPENAI_BASE_URL)? Or set QA_LLM=none to answer without a model"
            ) from e
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            # from None: the server's reply may quote the key, and the cause would print it
            raise LLMError(f"{self.name} refused the API key (HTTP {e.status_code}); check OPENAI_API_KEY") from None
        except openai.APIStatusError as e:
            raise LLMError(f"{self.name} answered HTTP {e.status_code}: {self._scrub(e.message)}") from None
        except openai.APIError as e:
            raise LLMError(f"{self.name} reported an error mid-answer: {self._scrub(e.message)}") from None
        except httpx.TimeoutException as e:
            raise LLMError(f"{self.name} sent nothing for {self.timeout:.0f} s mid-answer (QA_LLM_TIMEOUT)") from e
        except httpx.HTTPError as e:
            raise LLMError(f"the connection to {self.name} broke mid-answer ({type(e).__name__})") from e
        except ValueError as e:  # a data line that is not JSON
            raise LLMError(self._malformed(e)) from None
        if chars == 0:
            raise LLMError(f"{self.name} returned an empty reply")

    def complete(self, messages: list[dict], max_tokens: int = 256) -> str:
        return "".join(self.stream(messages, max_tokens))

    def close(self) -> None:
        self._client.close()

    def _text_of(self, chunk: Any) -> str | None:
        """The text delta of a stream chunk; the client does not validate chunks, so a wrong shape lands here."""
        try:
            return chunk.choices[0].delta.content if chunk.choices else None
        except (AttributeError, TypeError, IndexError, KeyError) as e:
            raise LLMError(self._malformed(e)) from None

    def _malformed(self, e: Exception) -> str:
        return (
            f"{self.name} sent a malformed stream ({type(e).__name__}); "
            "is OPENAI_BASE_URL an OpenAI-compatible /v1 endpoint?"
        )

    def _scrub(self, text: str, limit: int = 300) -> str:
        text = str(text)
        if len(self._key) >= 4:
            text = text.replace(self._key, "***")
        return text[:limit]
