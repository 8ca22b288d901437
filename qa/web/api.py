"""The page's HTTP API: the CLI's JSON contract over HTTP, and an OpenAI-compatible chat endpoint that keeps
the citations.

    POST /api/ask      {"question", "k"?, "history"?}  -> the ``qa ask --json`` object
    POST /api/search   {"question", "k"?}              -> the ``qa search --json`` object
                       both also take "since"?, "until"? (YYYY-MM-DD, YYYY-MM or YYYY), "sources"?, "langs"?
    GET  /api/articles                                 -> {"articles": [{"source", "path", "title", ...}]}
    GET  /api/conversations                            -> {"conversations": [{"id", "title", "created", ...}]}
    GET  /api/conversations/{id}                       -> {"id", "title", ..., "turns": [{"question", "answer", ...}]}
    GET  /api/conversations/{id}/export?format=md|json -> the conversation as Markdown, or JSON (``qa.export``)
    GET  /v1/models                                    -> the one model, "qa"
    POST /v1/chat/completions {"messages", "stream"?, "k"?} -> a chat completion whose text carries the ``[n]``
         markers, with ``"citations"`` (the verified quotes) and ``"qa"`` (the ``qa ask --json`` object) at the top
         level of the response, or of the last chunk when streamed.

Routes are added to the FastAPI app that serves the page (one server). A thin client of the same
:class:`qa.Assistant` as the page and the CLI: inputs are checked by the same functions, so bad input gets the
CLI's message, with status 400. The saved conversations are the page's owner's (the ``QA_AUTH`` user, or the
local owner without a login); an id that is not theirs is a 404 like an unknown one. Answers are made one at a
time (the assistant is shared); a streamed answer runs in a thread of its own that stops at its next step when
the client goes away, so a closed stream never holds the assistant.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from qa.answer import Assistant
from qa.conversations import LOCAL_OWNER, Conversations
from qa.errors import ConfigError, InputError, NotAuthorized, NotFound, QAError, RequestTooLarge
from qa.export import conversation_json, conversation_markdown
from qa.filters import Filters
from qa.resolve import check_history, message_text
from qa.retrieve import check_k, check_question
from qa.types import Answer

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes of one request body: a question, its k and a chat history fit many times over
MODEL = "qa"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
T = TypeVar("T")


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve the API beyond this machine without a token: answers and articles would be open to all."""
    if host not in LOCAL_HOSTS and not token:
        raise ConfigError(
            f"the page would listen on {host}, beyond this machine, and its HTTP API has no token: set "
            "QA_API_TOKEN to a long random string (clients send it as 'Authorization: Bearer TOKEN'), "
            "or listen on 127.0.0.1"
        )


class Api:
    """The HTTP routes over one assistant. ``token``: when set, every request must carry it as a Bearer token.
    ``conversations`` are the saved ones, read as ``owner``'s."""

    def __init__(
        self,
        assistant: Assistant,
        token: str | None = None,
        max_body: int = MAX_BODY,
        *,
        conversations: Conversations,
        owner: str = LOCAL_OWNER,
    ) -> None:
        self.assistant = assistant
        self.token = token
        self.max_body = max_body
        self.conversations = conversations
        self.owner = owner
        self.lock = threading.Lock()  # one answer at a time: the assistant is shared

    def install(self, app: FastAPI) -> None:
        """Add the routes to ``app`` (before the page is mounted on it, so they take precedence)."""
        app.add_api_route("/api/ask", self.ask, methods=["POST"])
        app.add_api_route("/api/search", self.search, methods=["POST"])
        app.add_api_route("/api/articles", self.articles, methods=["GET"])
        app.add_api_route("/api/conversations", self.conversation_list, methods=["GET"])
        app.add_api_route("/api/conversations/{conversation_id}", self.conversation, methods=["GET"])
        app.add_api_route("/api/conversations/{conversation_id}/export", self.export, methods=["GET"])
        app.add_api_route("/v1/models", self.models, methods=["GET"])
        app.add_api_route("/v1/chat/completions", self.chat, methods=["POST"])

    # --- routes ----------------------------------------------------------------------------------------

    async def ask(self, request: Request) -> Response:
        async def run() -> Response:
            body = await self._body(request)
            question, k = check_question(body.get("question")), self._k(body)
            history = check_history(body.get("history"))
            ask = partial(self.assistant.ask, **_filters(body))
            answer = await self._call(ask, question, k, history)
            return JSONResponse(answer.to_dict())

        return await self._respond(request, run)

    async def search(self, request: Request) -> Response:
        async def run() -> Response:
            body = await self._body(request)
            question, k = check_question(body.get("question")), self._k(body)
            passages = await self._call(partial(self.assistant.search, **_filters(body)), question, k)
            return JSONResponse({"question": question, "passages": [p.to_dict(i) for i, p in enumerate(passages, 1)]})

        return await self._respond(request, run)

    async def articles(self, request: Request) -> Response:
        async def run() -> Response:
            articles = await self._call(self.assistant.articles)
            return JSONResponse({"articles": [a.to_dict() for a in articles]})

        return await self._respond(request, run)

    async def conversation_list(self, request: Request) -> Response:
        async def run() -> Response:
            listed = await run_in_threadpool(self.conversations.list, self.owner)
            return JSONResponse({"conversations": [c.to_dict(turns=False) for c in listed]})

        return await self._respond(request, run)

    async def conversation(self, request: Request) -> Response:
        async def run() -> Response:
            got = await run_in_threadpool(self.conversations.get, request.path_params["conversation_id"], self.owner)
            return JSONResponse(got.to_dict())

        return await self._respond(request, run)

    async def export(self, request: Request) -> Response:
        async def run() -> Response:
            form = request.query_params.get("format", "md")
            if form not in ("md", "json"):
                raise InputError(f"format must be md or json, not {form!r}: add ?format=md or ?format=json")
            got = await run_in_threadpool(self.conversations.get, request.path_params["conversation_id"], self.owner)
            if form == "json":
                return JSONResponse(conversation_json(got.answers(), got.title))
            return Response(
                conversation_markdown(got.answers(), got.title),
                media_type="text/markdown; charset=utf-8",
                headers={"Content-Disposition": f'inline; filename="conversation-{got.id}.md"'},
            )

        return await self._respond(request, run)

    async def models(self, request: Request) -> Response:
        async def run() -> Response:
            return JSONResponse(
                {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "qa"}]}
            )

        return await self._respond(request, run)

    async def chat(self, request: Request) -> Response:
        async def run() -> Response:
            body = await self._body(request)
            question, history = _chat_question(body.get("messages"))
            question, k = check_question(question), self._k(body)
            model = body["model"] if isinstance(body.get("model"), str) and body["model"] else MODEL
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise InputError(f"stream must be true or false, not {stream!r}")
            if stream:
                return StreamingResponse(
                    self._chunks(question, k, history, model),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            answer = await self._call(self.assistant.ask, question, k, history)
            return JSONResponse(_completion(answer, model))

        return await self._respond(request, run)

    # --- the parts ---------------------------------------------------------------------------------------

    async def _respond(self, request: Request, run: Callable[[], Any]) -> Response:
        """Check the token, run the route, and turn errors into JSON with a status and the message to act on."""
        try:
            self._authorize(request)
            return await run()
        except QAError as e:
            status = _status(e)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse({"error": {"message": str(e), "type": _kind(status)}}, status, headers=headers)
        except Exception as e:
            log.exception("%s %s failed", request.method, request.url.path)
            message = f"Something went wrong on the server ({e.__class__.__name__}); the details are in its log."
            return JSONResponse({"error": {"message": message, "type": "server_error"}}, 500)

    def _authorize(self, request: Request) -> None:
        if not self.token:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise NotAuthorized("send the API token (QA_API_TOKEN of the server) as 'Authorization: Bearer TOKEN'")

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object of the request, read no further than ``max_body`` bytes."""
        too_large = RequestTooLarge(f"the request body is larger than {self.max_body // 1024} kB; send less")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise too_large
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InputError('the request body is not valid JSON; send e.g. {"question": "..."}') from None
        if not isinstance(data, dict):
            raise InputError('the request body must be a JSON object, e.g. {"question": "..."}')
        return data

    def _k(self, body: dict[str, Any]) -> int:
        return check_k(body.get("k", self.assistant.config.k))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        def locked() -> T:
            with self.lock:
                return fn(*args)

        return await run_in_threadpool(locked)

    async def _chunks(self, question: str, k: int, history: list[dict], model: str) -> AsyncIterator[str]:
        """Server-sent chat chunks: the role at once, then the verified answer's text, then the citations.

        The model's draft is not sent as text (the final text can differ from it, and streamed deltas cannot be
        taken back): each of its steps is an SSE comment, which clients ignore and which finds a closed
        connection. The answer is made in a thread of its own; when the client goes away (this generator is
        closed or cancelled), the thread is told to stop at its next step and releases the assistant.
        """
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[str | Answer | BaseException | None] = asyncio.Queue()
        gone = threading.Event()

        def put(item: str | Answer | BaseException | None) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        def produce() -> None:
            try:
                with self.lock:
                    if gone.is_set():
                        return
                    # Leaving the loop drops the generator, which CPython closes at once (and the model's request).
                    for item in self.assistant.stream(question, k=k, history=history):
                        if gone.is_set():
                            log.info("a streaming client went away; its answer was stopped")
                            return
                        put(item)
            except BaseException as e:  # handed to the client's side, which reports it
                put(e)
            finally:
                put(None)

        head = _chunk_id()
        threading.Thread(target=produce, name="api-stream", daemon=True).start()
        try:
            yield _sse(_chunk(head, model, {"role": "assistant", "content": ""}))
            answer: Answer | None = None
            while (item := await items.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, str):  # the model is writing: a comment, which also finds a closed client
                    yield ": writing\n\n"
                else:
                    answer = item
            if answer is None:
                raise RuntimeError("the assistant's stream ended without an answer")
            yield _sse(_chunk(head, model, {"content": answer.text}))
            yield _sse(_chunk(head, model, {}, "stop", **_extras(answer)))
            yield "data: [DONE]\n\n"
        except QAError as e:
            yield _sse({"error": {"message": str(e), "type": _kind(_status(e))}})
        except Exception as e:
            log.exception("streaming an answer failed")
            message = f"Something went wrong on the server ({e.__class__.__name__}); the details are in its log."
            yield _sse({"error": {"message": message, "type": "server_error"}})
        finally:
            gone.set()


def _status(e: QAError) -> int:
    if isinstance(e, NotAuthorized):
        return 401
    if isinstance(e, NotFound):
        return 404
    if isinstance(e, RequestTooLarge):
        return 413
    if isinstance(e, InputError):
        return 400
    return 503  # the store or the model is unavailable: the message says what to do


def _kind(status: int) -> str:
    return {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 413: "too_large"}.get(
        status, "server_error"
    )


def _filters(body: dict[str, Any]) -> dict[str, Any]:
    """The request's ``since``/``until``/``sources``/``langs``, checked (a bad one is a 400 saying which)."""
    chosen = {key: body.get(key) for key in ("since", "until", "sources", "langs")}
    Filters.of(**chosen)
    return chosen


def _chat_question(messages: object) -> tuple[object, list[dict]]:
    """The last user message is the question; the messages before it are its history."""
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InputError(
            'messages must be a list of {"role", "content"} objects whose last one is the user\'s question'
        )
    last = messages[-1]
    if last.get("role") != "user":
        raise InputError('the last message must be the user\'s question ({"role": "user", "content": "..."})')
    return message_text(last.get("content")), check_history(messages[:-1])


def _extras(answer: Answer) -> dict[str, Any]:
    """What an OpenAI client does not know about, at the top level: the verified quotes and the whole answer."""
    return {"citations": [c.to_dict() for c in answer.citations if c.verified], "qa": answer.to_dict()}


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": _chunk_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **_extras(answer),
    }


def _chunk(head: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": head,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def _chunk_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"
