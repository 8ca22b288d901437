"""The Gradio page: chat with streamed, cited answers, a sources panel, saved conversations, and the article
collection.

UI code only: every answer and search goes through the injected :class:`qa.Assistant`, every upload and
deletion through the injected :class:`qa.types.Library`, every saved conversation through the injected
:class:`qa.conversations.Conversations` (owned by the logged-in user, ``request.username``). Nothing lives at
module level, so tests build a page on whatever store and backend they need, and two pages in one process share
nothing.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import gradio as gr
import uvicorn
from fastapi import FastAPI

from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES, LLMChoice
from qa.conversations import Conversations, conversations_path, owner_of
from qa.errors import ConversationsError, InputError, NotFound, QAError
from qa.export import conversation_markdown
from qa.filters import Filters
from qa.retrieve import check_k, check_question
from qa.types import Answer, AnswerMode, Library, LLMState
from qa.web.api import Api, check_exposure
from qa.web.render import (
    article_choices,
    article_rows,
    conversation_choices,
    esc,
    render_answer,
    render_draft,
    render_error,
    render_panel,
    render_pending,
    render_sources,
    render_user,
    source_choices,
)
from qa.web.uploads import Uploads

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MODES = {
    "Written by the language model": AnswerMode.LLM.value,
    "Quotes only (extractive, no model)": AnswerMode.EXTRACTIVE.value,
}
# Each is an eval case (``evals/cases.jsonl``) whose extractive answer states the fact in its first claim and is
# stated likely right (confidence >= 0.5; measured 2026-12-05); a test checks they are cases.
EXAMPLES = [
    "What amount of loans did the G7 leaders finalize for Ukraine?",
    "Sa ushtarë koreano-veriorë kanë vdekur në luftë sipas inteligjencës britanike?",
    "Dove si incontrano giovedì i leader europei per discutere degli aiuti all'Ucraina?",
    "بماذا تعهد كيم جونغ أون لروسيا؟",
    "Combien d'ingénieurs et de bâtisseurs militaires la Corée du Nord a-t-elle promis d'envoyer pour la "
    "reconstruction ?",
    "Wie viele Menschen wurden verletzt, als eine russische Drohne ein Hochhaus in Kiew traf?",
]
STATUS_HINTS = {
    LLMState.PREPARING: " — the first start prepares the local model, once; questions wait for it (or choose "
    "*Quotes only* under Settings)",
    LLMState.STARTING: " — a few seconds",
}

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Library errors become ``gr.Error`` with their message; anything else is logged and summarised."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except QAError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                f"Something went wrong on the server ({e.__class__.__name__}); the details are in its log.",
                print_exception=False,
            ) from None

    return wrapper


class Page:
    """The page over one assistant and one library; :meth:`create_app` builds it, the callbacks are methods.

    ``suffixes`` are the file types the library reads (the upload widget offers exactly those); ``bundled``
    is the folder of demo articles the *Articles* tab offers to add to an empty collection; ``conversations``
    where answers are saved (by default ``conversations.sqlite3`` beside the store, see
    :func:`qa.conversations.conversations_path`).
    """

    def __init__(
        self,
        assistant: Assistant,
        library: Library,
        suffixes: Sequence[str],
        bundled: Path = BUNDLED_ARTICLES,
        conversations: Conversations | None = None,
    ) -> None:
        self.assistant = assistant
        self.conversations = conversations or Conversations(conversations_path(assistant.config))
        self.exports: Path | None = None  # a temporary folder for exported conversations, made at the first export
        # Made once: "Quotes only" answers on the same store and embedder, without the model.
        self.quotes_only = assistant if assistant.llm is None else assistant.without_llm()
        self.library = library
        self.bundled = bundled
        self.uploads = Uploads(
            library, Path(assistant.config.store) / "uploads", suffixes, assistant.config.max_file_mb
        )

    def answerer(self, mode: str) -> Assistant:
        """The assistant for an answer mode of the Settings: the page's own, or its twin without the LLM."""
        return self.quotes_only if mode == AnswerMode.EXTRACTIVE else self.assistant

    # --- callbacks -------------------------------------------------------------------------------------

    def respond(
        self,
        message: str,
        chat: list[dict],
        history: list[dict],
        turns: list[tuple[str, str]],
        k: int,
        mode: str,
        conversation: str | None = None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
        langs: list[str] | None = None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer: user bubble, then the draft as the model writes, then the verified answer, saved
        as the next turn of ``conversation`` (a new one when None); a failed save is said on the status line.
        ``since``/``until``/``sources``/``langs`` are the Filters controls (empty: no filter)."""
        try:
            question = check_question(message)
            k = check_k(int(k))
            chosen: dict[str, Any] = dict(since=(since or "").strip() or None, until=(until or "").strip() or None)
            chosen |= dict(sources=list(sources or []) or None, langs=list(langs or []) or None)
            Filters.of(**chosen)  # a bad date is said before anything is searched
        except QAError as e:
            raise gr.Error(str(e), print_exception=False) from None
        qa = self.answerer(mode)
        asked = [*chat, {"role": "user", "content": render_user(question)}]

        def reply(html: str) -> list[dict]:
            return [*asked, {"role": "assistant", "content": html}]

        skip = (gr.skip(), gr.skip())  # the conversation id and the saving status
        yield "", reply(render_pending(qa.llm_status() if qa.llm else None)), history, turns, gr.skip(), *skip
        draft = ""
        answer: Answer | None = None
        try:
            for item in qa.stream(question, k=k, history=list(history), **chosen):
                if isinstance(item, str):
                    draft += item
                    yield gr.skip(), reply(render_draft(draft)), gr.skip(), gr.skip(), gr.skip(), *skip
                else:
                    answer = item
            if answer is None:
                raise RuntimeError("the assistant's stream ended without an answer")
        except Exception as e:
            if isinstance(e, QAError):
                message = str(e)
            else:
                message = f"Something went wrong on the server ({e.__class__.__name__})"
                log.exception("answering %r failed", question)
            yield gr.skip(), reply(render_error(message)), gr.skip(), gr.skip(), gr.skip(), *skip
            raise gr.Error(message, print_exception=False) from None
        turn = len(turns) + 1
        history = [*history, {"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        turns = [*turns, (question, render_sources(answer, turn))]
        settings = {"k": k, "mode": mode, **{key: value for key, value in chosen.items() if value}}
        conversation, saved = self._save(conversation, answer, settings, _owner(request))
        yield gr.skip(), reply(render_answer(answer, turn)), history, turns, render_panel(turns), conversation, saved

    def _save(
        self, conversation: str | None, answer: Answer, settings: dict[str, Any], owner: str
    ) -> tuple[str | None, str]:
        """Append the answer to the conversation (a new one if None or deleted meanwhile); the id, and the status
        line: empty, or why the answer was not saved (the page goes on answering)."""
        try:
            if conversation:
                try:
                    self.conversations.append(conversation, owner, answer, settings)
                    return conversation, ""
                except NotFound:
                    log.info("conversation %s was deleted meanwhile; the answer starts a new one", conversation)
            conversation = self.conversations.create(owner, answer.question).id
            self.conversations.append(conversation, owner, answer, settings)
            return conversation, ""
        except QAError as e:
            return conversation, f"**Not saved:** {esc(str(e))}"

    def new_conversation(self) -> tuple[Any, ...]:
        """An empty chat and sources panel; the next answer starts a new saved conversation."""
        return [], [], [], render_panel([]), None, gr.update(value=None), ""

    @user_errors
    def conversation_list(self, current: str | None, request: gr.Request | None = None) -> tuple[Any, Any]:
        """The saved conversations, newest first, ``current`` selected; when they cannot be read, the status
        line says why (answers go on without them)."""
        try:
            return self._choices(_owner(request), current), gr.skip()
        except ConversationsError as e:
            return gr.update(choices=[], value=None), f"**Conversations are not saved:** {esc(str(e))}"

    @user_errors
    def open_conversation(self, conversation: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """A saved conversation back on the page: its bubbles, its sources panel, and its history for follow-ups."""
        if not conversation:
            raise InputError("choose a conversation to open")
        saved = self.conversations.get(conversation, _owner(request))
        chat: list[dict] = []
        history: list[dict] = []
        turns: list[tuple[str, str]] = []
        for n, answer in enumerate(saved.answers(), 1):
            chat += [
                {"role": "user", "content": render_user(answer.question)},
                {"role": "assistant", "content": render_answer(answer, n)},
            ]
            history += [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.text}]
            turns.append((answer.question, render_sources(answer, n)))
        return chat, history, turns, render_panel(turns), saved.id, saved.title, ""

    @user_errors
    def rename_conversation(
        self, conversation: str | None, title: str, request: gr.Request | None = None
    ) -> tuple[Any, str]:
        if not conversation:
            raise InputError("open a conversation (or ask a question) before renaming it")
        owner = _owner(request)
        renamed = self.conversations.rename(conversation, owner, title)
        return self._choices(owner, renamed.id), f"Renamed to *{esc(renamed.title)}*."

    @user_errors
    def delete_conversation(self, conversation: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """Delete the open conversation and start a new one."""
        if not conversation:
            raise InputError("open a conversation before deleting it")
        owner = _owner(request)
        self.conversations.delete(conversation, owner)
        chat, history, turns, panel, *_ = self.new_conversation()
        return chat, history, turns, panel, None, self._choices(owner, None), "", "Deleted the conversation."

    @user_errors
    def export_conversation(self, conversation: str | None, request: gr.Request | None = None) -> str:
        """The open conversation as a Markdown file (``qa.export``: every quote verbatim) to download."""
        if not conversation:
            raise InputError("open a conversation (or ask a question) before exporting it")
        saved = self.conversations.get(conversation, _owner(request))
        if self.exports is None:
            self.exports = Path(tempfile.mkdtemp(prefix="qa-exports-"))
        folder = self.exports / saved.id
        folder.mkdir(exist_ok=True)
        name = re.sub(r"[^\w-]+", "-", saved.title).strip("-")[:60] or "conversation"
        path = folder / f"{name}.md"
        path.write_text(conversation_markdown(saved.answers(), saved.title), encoding="utf-8")
        return str(path)

    def _choices(self, owner: str, current: str | None) -> Any:
        listed = self.conversations.list(owner)
        return gr.update(
            choices=conversation_choices(listed), value=current if any(c.id == current for c in listed) else None
        )

    @user_errors
    def status_line(self) -> str:
        """The model's state, with a hint while the local model is prepared or started."""
        state = self.assistant.llm_state()
        hint = STATUS_HINTS.get(state, "") if state else ""
        return f"**Answers:** {esc(self.assistant.llm_status())}{hint}"

    @user_errors
    def article_list(self) -> tuple[Any, ...]:
        """The articles table, the delete choices, the one-line summary and the bundled-articles button."""
        arts = self.assistant.articles()
        langs = Counter(a.lang or "?" for a in arts)
        if arts:
            summary = (
                f"**Articles:** {len(arts)} ({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}), "
                f"{sum(a.passages for a in arts)} passages"
            )
        else:
            summary = "**Articles:** none yet — add the bundled demo articles or upload your own under *Articles*."
        return (
            article_rows(arts),
            gr.update(choices=article_choices(arts), value=None),
            summary,
            gr.update(visible=not arts),
            gr.update(choices=source_choices(arts)),
            gr.update(choices=sorted(langs.keys() - {"?"})),
        )

    @user_errors
    def settings_defaults(self) -> tuple[Any, Any]:
        config = self.assistant.config
        if config.llm == LLMChoice.NONE:
            mode = gr.update(
                value=AnswerMode.EXTRACTIVE.value,
                interactive=False,
                info="The page was started without a language model (--llm none).",
            )
        else:
            mode = gr.update(value=AnswerMode.LLM.value, interactive=True)
        return gr.update(value=min(config.k, 10)), mode

    @user_errors
    def add_uploads(
        self,
        files: list[str] | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[Any, ...]:
        """Add uploaded files; the ones that could not be added are named in a warning (all of them: an error)."""
        report, problems = self.uploads.add(files or [], step=lambda desc: progress(0, desc=desc))
        if problems:
            gr.Warning("Some files were not added: " + " ".join(problems))
        message = (
            f"Added {report.added}, updated {report.updated}, unchanged {report.skipped}; "
            f"{report.passages} passages in {report.seconds:.1f} s."
        )
        gr.Info(message)
        return (None, message, *self.article_list())

    @user_errors
    def add_bundled(self, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:  # noqa: B008
        report = self.library.add([self.bundled], progress=True)
        message = f"Bundled demo articles: {report.summary()}"
        gr.Info(message)
        return (message, *self.article_list())

    @user_errors
    def delete(self, path: str | None) -> tuple[Any, ...]:
        if not path:
            raise InputError("choose an article to delete first")
        self.uploads.delete(path)
        message = f"Deleted {Path(path).name}."
        gr.Info(message)
        return (message, *self.article_list())

    # --- the page --------------------------------------------------------------------------------------

    def create_app(self) -> gr.Blocks:
        """The page, its events wired to this object's callbacks, queued one answer or ingest at a time."""
        suffixes = self.uploads.suffixes
        with gr.Blocks(title="qa — ask the news", analytics_enabled=False, delete_cache=(600, 3600)) as page:
            gr.Markdown(
                "# Ask the news\nQuestions in any language about the articles in the collection. Every "
                "answer cites its sources; click a **[n]** to see the quoted words in the article."
            )
            with gr.Row():
                llm_md = gr.Markdown(elem_id="qa-llm-status")
                store_md = gr.Markdown(elem_id="qa-store-status")
            history = gr.State([])
            turns = gr.State([])
            conversation = gr.State(None)  # the id of the saved conversation on the page; None until the first answer
            with gr.Tabs():
                with gr.Tab("Ask", id="ask"), gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(
                            label="Conversation",
                            elem_id="qa-chat",
                            height=520,
                            render_markdown=False,
                            latex_delimiters=[],
                            allow_tags=False,
                            feedback_options=None,
                            buttons=[],
                            placeholder="Ask about the articles, in any language. Follow-up "
                            "questions are understood from the conversation.",
                        )
                        with gr.Row():
                            box = gr.Textbox(
                                placeholder="Ask a question…",
                                show_label=False,
                                scale=6,
                                lines=1,
                                max_lines=6,
                                autofocus=True,
                                elem_id="qa-question",
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                        gr.Examples([[q] for q in EXAMPLES], inputs=[box], label="Examples (any language works)")
                        with gr.Accordion("Settings", open=False):
                            k = gr.Slider(
                                1,
                                10,
                                value=5,
                                step=1,
                                label="Passages to read",
                                info="More passages find more, but answers come slower.",
                            )
                            mode = gr.Radio(
                                list(MODES.items()), value=AnswerMode.LLM.value, label="Answer mode", elem_id="qa-mode"
                            )
                        with gr.Accordion("Filters", open=False, elem_id="qa-filters"):
                            with gr.Row():
                                since = gr.Textbox(
                                    label="Published since", placeholder="YYYY-MM-DD, YYYY-MM or YYYY", max_lines=1,
                                    elem_id="qa-since",
                                )  # fmt: skip
                                until = gr.Textbox(
                                    label="Published until", placeholder="YYYY-MM-DD, YYYY-MM or YYYY", max_lines=1,
                                    elem_id="qa-until",
                                )  # fmt: skip
                            only_sources = gr.Dropdown(
                                choices=[], value=[], multiselect=True, allow_custom_value=True,
                                label="Only these sources (files, web sites)", elem_id="qa-only-sources",
                            )  # fmt: skip
                            only_langs = gr.Dropdown(
                                choices=[], value=[], multiselect=True, allow_custom_value=True,
                                label="Only these languages", elem_id="qa-only-langs",
                            )  # fmt: skip
                        clear = gr.Button("New conversation", size="sm", elem_id="qa-new")
                        with gr.Accordion("Conversations", open=True, elem_id="qa-saved"):
                            saved = gr.Radio(
                                [],
                                value=None,
                                label="Saved conversations, newest first: choose one to open it",
                                elem_id="qa-conversations",
                            )
                            with gr.Row():
                                title = gr.Textbox(
                                    placeholder="A new title for the open conversation",
                                    show_label=False,
                                    scale=3,
                                    max_lines=1,
                                    elem_id="qa-conversation-title",
                                )
                                rename = gr.Button("Rename", size="sm", scale=1, elem_id="qa-rename")
                            with gr.Row():
                                export = gr.Button("Export Markdown", size="sm", elem_id="qa-export")
                                drop = gr.Button("Delete", size="sm", variant="stop", elem_id="qa-drop")
                            exported = gr.File(label="Exported conversation", interactive=False, elem_id="qa-exported")
                            saved_md = gr.Markdown(elem_id="qa-saved-status")
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render_panel([]), elem_id="qa-sources")
                with gr.Tab("Articles", id="articles"):
                    bundled_row = gr.Row(visible=False)
                    with bundled_row:
                        bundled = gr.Button(
                            "Add the 5 bundled demo articles (Arabic, Albanian, English, Italian)", variant="primary"
                        )
                    table = gr.Dataframe(
                        headers=["Article", "File or page", "Language", "Date", "Passages", "Also published at"],
                        datatype=["str", "str", "str", "str", "number", "str"],
                        interactive=False,
                        column_widths=["22%", "34%", "7%", "9%", "7%", "21%"],
                        latex_delimiters=[],
                        wrap=True,
                        label="Articles in the collection",
                        elem_id="qa-articles",
                    )
                    with gr.Row():
                        with gr.Column():
                            files = gr.File(
                                label=f"Upload articles ({', '.join(suffixes)})",
                                file_count="multiple",
                                file_types=suffixes,
                                elem_id="qa-upload",
                            )
                            add = gr.Button("Add to the collection", variant="primary", elem_id="qa-add")
                            gr.Markdown("A file with the same name as an earlier upload replaces it.")
                        with gr.Column():
                            pick = gr.Dropdown(label="Delete an article", choices=[], value=None, elem_id="qa-pick")
                            remove = gr.Button("Delete", variant="stop", elem_id="qa-delete")
                    result = gr.Markdown(elem_id="qa-result", min_height=40)
            timer = gr.Timer(3.0)

            listing = [table, pick, store_md, bundled_row, only_sources, only_langs]
            page.load(self.status_line, None, llm_md, queue=False, show_progress="hidden")
            page.load(self.article_list, None, listing, queue=False, show_progress="hidden")
            page.load(self.settings_defaults, None, [k, mode], queue=False, show_progress="hidden")
            timer.tick(self.status_line, None, llm_md, queue=False, show_progress="hidden")
            listed: dict[str, Any] = dict(
                fn=self.conversation_list, inputs=conversation, outputs=[saved, saved_md], queue=False
            )
            page.load(**listed, show_progress="hidden")
            ask_io: dict[str, Any] = dict(
                fn=self.respond,
                inputs=[box, chat, history, turns, k, mode, conversation, since, until, only_sources, only_langs],
                outputs=[box, chat, history, turns, sources, conversation, saved_md],
                concurrency_id="assistant",
                show_progress_on=chat,
            )
            box.submit(**ask_io).success(**listed)
            send.click(**ask_io).success(**listed)
            fresh = [chat, history, turns, sources, conversation, saved, title]
            clear.click(self.new_conversation, None, fresh, queue=False)
            chat.clear(self.new_conversation, None, fresh, queue=False)
            saved.input(
                self.open_conversation,
                saved,
                [chat, history, turns, sources, conversation, title, saved_md],
                queue=False,
            )
            rename.click(self.rename_conversation, [conversation, title], [saved, saved_md], queue=False)
            drop.click(self.delete_conversation, conversation, [*fresh, saved_md], queue=False)
            export.click(self.export_conversation, conversation, exported, queue=False)
            # Progress and errors show on the result line only, so no error badge covers the list or the inputs.
            add.click(
                self.add_uploads, files, [files, result, *listing], concurrency_id="assistant", show_progress_on=result
            )
            bundled.click(
                self.add_bundled, None, [result, *listing], concurrency_id="assistant", show_progress_on=result
            )
            remove.click(self.delete, pick, [result, *listing], concurrency_id="assistant", show_progress_on=result)
        page.queue(default_concurrency_limit=1, max_size=64)
        return page

    def server_app(self, api_token: str | None = None, api_owner: str | None = None, **options: Any) -> FastAPI:
        """One FastAPI app: the HTTP API (``qa.web.api``) and the page mounted at ``/`` with its CSS and JS.

        ``api_owner``: whose saved conversations the API reads (the ``QA_AUTH`` user; None: the local owner).
        ``options`` go to ``gr.mount_gradio_app`` (auth, blocked paths, file size, ...), Gradio's supported way
        to serve a page inside an app of our own, so the API and the page share one server and one port.
        """
        app = FastAPI(title="qa", docs_url=None, redoc_url=None, openapi_url=None)
        Api(self.assistant, api_token, conversations=self.conversations, owner=owner_of(api_owner)).install(app)
        css = (STATIC / "page.css").read_text(encoding="utf-8")
        js = (STATIC / "page.js").read_text(encoding="utf-8")
        return gr.mount_gradio_app(app, self.create_app(), path="/", css=css, js=js, **options)

    def launch(
        self, host: str, port: int, api_token: str | None = None, api_owner: str | None = None, **options: Any
    ) -> None:
        """Serve the page and its API until interrupted; refuses an API open beyond this machine without a token."""
        check_exposure(host, api_token)
        app = self.server_app(api_token, api_owner, server_name=host, server_port=port, **options)
        log.info("the page and its API on http://%s:%d (API: /api/ask, /api/search, /v1/chat/completions)", host, port)
        # A short grace period: an open stream must not keep a stopping server alive.
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=5)).run()


def _owner(request: gr.Request | None) -> str:
    """Whose conversations: the logged-in user (``QA_AUTH``) or, without a login, the one local owner."""
    return owner_of(getattr(request, "username", None))
