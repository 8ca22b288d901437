"""The Gradio page: chat with streamed, cited answers, a sources panel, and the article collection.

UI code only: every answer, search, upload and deletion goes through :class:`qa.Assistant`. The helpers at
the top turn library values into HTML; everything taken from an article, a question or a model is escaped
there, because an article is untrusted input and nothing in it may render as live HTML.

    python app.py [--host 127.0.0.1] [--port 7860] [--store DIR] [--llm local|openai|none]
"""
from __future__ import annotations

import argparse
import html
import logging
import os
import re
import shutil
import signal
import sys
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from functools import wraps
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from qa import Answer, Assistant, Passage  # noqa: E402  (first: ingest.load needs qa imported)
from ingest.load import SUFFIXES  # noqa: E402
from qa.config import BUNDLED_ARTICLES, LLM_MODES  # noqa: E402
from qa.errors import ConfigError, InputError, QAError  # noqa: E402
from qa.retrieve import check_k, check_question  # noqa: E402

log = logging.getLogger("qa.app")

RTL_LANGS = {"ar", "fa", "he", "ur", "ps", "yi", "dv", "ku", "sd", "ug"}
UPLOAD_SUFFIXES = sorted(SUFFIXES)  # exactly what the loader can read
MAX_NAME_CHARS = 120
MODES = {"Written by the language model": "llm", "Quotes only (extractive, no model)": "extractive"}
EXAMPLES = [
    "How much money did the G7 agree to provide to Ukraine?",
    "Sa ushtarë të tjerë ka dërguar Koreja e Veriut në Rusi?",
    "Dove ha incontrato Lavrov Kim Jong Un?",
    "ماذا قال كيم جونغ أون عن دعم روسيا؟",
    "Combien de personnes ont été tuées à Dnipro ?",
    "Wann könnte Russland nordkoreanische Truppen einsetzen?",
]

# ---------------------------------------------------------------------------------------------------------
# Pure helpers: library values -> escaped HTML, file names -> safe file names (unit-tested in tests/test_app.py)


def esc(text: object) -> str:
    """HTML-escape anything shown on the page (quotes included, so it is safe inside attributes too)."""
    return html.escape("" if text is None else str(text), quote=True)


def text_dir(lang: str | None) -> str:
    return "rtl" if (lang or "").lower() in RTL_LANGS else "auto"


def lang_attr(lang: str | None) -> str:
    """` lang="xx"` for a plausible language code, nothing otherwise (the code comes from the store)."""
    return f' lang="{lang}"' if lang and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", lang) else ""


def source_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def link_markers(escaped: str, turn: int, count: int, titles: list[str] | None = None) -> str:
    """Turn each ``[n]`` of already-escaped answer text into a link to source n of this turn."""

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if not 1 <= n <= count:
            return m.group(0)
        tip = f' title="{esc(titles[n - 1])}"' if titles and titles[n - 1] else ""
        return f'<a class="qa-cite" href="#{source_id(turn, n)}"{tip}>[{n}]</a>'

    return re.sub(r"\[(\d{1,3})\]", link, escaped)


def paragraphs(escaped: str) -> str:
    """Line breaks of escaped text as ``<br>`` (the chat bubble does not render Markdown)."""
    return escaped.strip().replace("\r\n", "\n").replace("\n", "<br>")


def render_user(question: str) -> str:
    return f'<div class="qa-question" dir="auto">{paragraphs(esc(question))}</div>'


def render_pending(status: str | None = None) -> str:
    extra = f" ({esc(status)})" if status else ""
    return f'<div class="qa-pending">Searching the articles…{extra}</div>'


def render_draft(text: str) -> str:
    """The answer while the model is still writing it: plain, marked as a draft."""
    return (f'<div class="qa-answer qa-draft" dir="auto">{paragraphs(esc(text))}'
            '<span class="qa-writing"> ▍ writing, citations are checked at the end</span></div>')


def render_error(message: str) -> str:
    return f'<div class="qa-answer qa-failed" dir="auto">⚠ {esc(message)}</div>'


def render_answer(answer: Answer, turn: int) -> str:
    """The final answer bubble: badges for refusal / extractive mode, the searched question, linked markers."""
    kind = "qa-refused" if answer.refused else ("qa-extractive" if answer.mode == "extractive" else "qa-llm")
    parts = [f'<div class="qa-answer {kind}">']
    if answer.rewritten and answer.rewritten.strip() != answer.question.strip():
        parts.append(f'<div class="qa-rewritten">Searched for: <q dir="auto">{esc(answer.rewritten)}</q></div>')
    if answer.refused:
        parts.append('<div class="qa-badge qa-badge-refused">Not answered: the articles do not say</div>')
    elif answer.mode == "extractive":
        parts.append('<div class="qa-badge qa-badge-extractive">Extractive answer: sentences quoted from the '
                     'articles, not written by a language model</div>')
    titles = [p.title or p.source for p in answer.passages]
    parts.append(f'<div class="qa-text" dir="auto">{link_markers(paragraphs(esc(answer.text)), turn, len(answer.passages), titles)}'
                 '</div>')
    parts.append(f'<div class="qa-foot">{esc(answer_footer(answer))}</div></div>')
    return "".join(parts)


def answer_footer(answer: Answer) -> str:
    cited = len({c.n for c in answer.citations})
    bits = []
    if answer.refused:
        bits.append(f"{len(answer.passages)} related passages under Sources" if answer.passages
                    else "no passages found")
    else:
        bits.append(f"{cited} source{'s' if cited != 1 else ''} cited")
    if answer.dropped:
        bits.append(f"{answer.dropped} unsupported sentence{'s' if answer.dropped != 1 else ''} removed")
    total = answer.timings.get("total_s") if answer.timings else None
    if isinstance(total, (int, float)):
        bits.append(f"{total:.1f} s" if total >= 0.1 else "under 0.1 s")
    if answer.note:
        bits.append(answer.note)
    return " · ".join(bits)


def quote_spans(passage_text: str, passage_start: int, citations) -> tuple[list[tuple[int, int, bool]], list]:
    """Where each citation's quote sits inside the passage, merged; and the citations that could not be placed.

    Citation offsets are in the article; the passage starts at ``passage_start`` in the same article.
    """
    spans: list[tuple[int, int, bool]] = []
    unplaced = []
    for c in citations:
        s, e = c.start - passage_start, c.end - passage_start
        if not (0 <= s < e <= len(passage_text) and passage_text[s:e] == c.quote):
            s = passage_text.find(c.quote) if c.quote else -1
            e = s + len(c.quote)
        if s < 0 or not c.quote:
            unplaced.append(c)
            continue
        spans.append((s, e, bool(c.verified)))
    spans.sort()
    merged: list[tuple[int, int, bool]] = []
    for s, e, ok in spans:
        if merged and s <= merged[-1][1]:
            ps, pe, pok = merged[-1]
            merged[-1] = (ps, max(pe, e), pok and ok)
        else:
            merged.append((s, e, ok))
    return merged, unplaced


def highlight(text: str, spans: list[tuple[int, int, bool]]) -> str:
    """Escaped ``text`` with each span wrapped in ``<mark>`` (spans must be sorted and disjoint)."""
    out, pos = [], 0
    for s, e, ok in spans:
        cls = "qa-quote" if ok else "qa-quote qa-unverified"
        tip = "" if ok else ' title="not found word for word in the article"'
        out.append(esc(text[pos:s]))
        out.append(f'<mark class="{cls}"{tip}>{esc(text[s:e])}</mark>')
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def render_sources(answer: Answer, turn: int) -> str:
    """One turn of the sources panel: cited passages first (open, quote highlighted), then the others."""
    if not answer.passages:
        return '<p class="qa-note">No passages were found for this question.</p>'
    by_n: dict[int, list] = {}
    for c in answer.citations:
        by_n.setdefault(c.n, []).append(c)
    numbers = range(1, len(answer.passages) + 1)
    cited = [n for n in numbers if n in by_n]
    others = [n for n in numbers if n not in by_n]
    parts = []
    if answer.refused:
        parts.append('<p class="qa-note">None of these passages answers the question; they are the closest ones.</p>')
    parts += [render_source(answer.passages[n - 1], n, turn, by_n[n]) for n in cited]
    if cited and others:
        parts.append('<p class="qa-subhead">Also retrieved, not cited:</p>')
    parts += [render_source(answer.passages[n - 1], n, turn, []) for n in others]
    return "".join(parts)


def render_source(p: Passage, n: int, turn: int, citations: list) -> str:
    """Passage n as a foldable block, open when cited, with each quote highlighted where it occurs."""
    lead = len(p.text) - len(p.text.lstrip())
    text = p.text.strip()
    spans, unplaced = quote_spans(text, p.start + lead, citations)
    meta = " · ".join(x for x in (p.date, p.lang, p.source if p.title else None) if x)
    return (f'<details class="qa-src{" qa-cited" if citations else ""}" id="{source_id(turn, n)}" '
            f'data-source="{esc(p.source)}"{" open" if citations else ""}><summary><span class="qa-n">[{n}]</span> '
            f'<span class="qa-title" dir="auto">{esc(p.title or p.source)}</span> '
            f'<span class="qa-meta" dir="ltr">{esc(meta)}</span></summary>'
            f'<div class="qa-passage" dir="{text_dir(p.lang)}"{lang_attr(p.lang)}>{highlight(text, spans)}</div>'
            + "".join(f'<p class="qa-unplaced" dir="auto">Quoted: “{esc(c.quote)}”</p>' for c in unplaced)
            + "</details>")


def render_panel(turns: list[tuple[str, str]]) -> str:
    """All turns' sources, newest first and open; older turns folded (their ``[n]`` links still open them)."""
    if not turns:
        return ('<div class="qa-sources qa-empty">Ask a question: the passages an answer cites appear here, '
                'with the quoted words highlighted.</div>')
    parts = ['<div class="qa-sources">']
    for i in range(len(turns) - 1, -1, -1):
        question, inner = turns[i]
        head = f'<span class="qa-turn-q" dir="auto">{esc(question)}</span>'
        if i == len(turns) - 1:
            parts.append(f'<section class="qa-turn qa-latest" id="turn-{i + 1}"><h4>{head}</h4>{inner}</section>')
        else:
            parts.append(f'<details class="qa-turn" id="turn-{i + 1}"><summary>{head}</summary>{inner}</details>')
    parts.append("</div>")
    return "".join(parts)


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the uploads folder: no folders, no leading dots, no odd characters.

    Letters of any script are kept (an Arabic article keeps its Arabic name); the suffix is lower-cased so
    the loader recognises it.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" ._-")
    base = re.sub(r"\s+", " ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" ._-") or "upload"
    suffix = f".{suffix.lower()}" if suffix else ""
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def upload_path(folder: Path, name: str) -> Path:
    """Where an upload called ``name`` is stored: always directly inside ``folder``."""
    target = folder / safe_filename(name)
    if target.resolve().parent != folder.resolve():
        raise InputError(f"refused the file name {name!r}")
    return target


def check_upload(path: Path, name: str, max_mb: float) -> None:
    """Type and size limits, checked before anything is copied into the store."""
    suffix = Path(safe_filename(name)).suffix
    if suffix not in UPLOAD_SUFFIXES:
        raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; upload {', '.join(UPLOAD_SUFFIXES)}")
    size = path.stat().st_size
    if size > max_mb * 1_000_000:
        raise InputError(f"{name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit")
    if size == 0:
        raise InputError(f"{name}: the file is empty")


def article_rows(articles) -> list[list]:
    return [[a.source, a.title or "", a.lang or "", a.date or "", a.passages] for a in articles]


def article_choices(articles) -> list[tuple[str, str]]:
    return [(f"{a.source} — {a.title}" if a.title else a.source, a.path) for a in articles]


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``QA_AUTH="user:password"`` -> a Gradio login; unset -> no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError('QA_AUTH must look like "user:password"')
    return user, password


# ---------------------------------------------------------------------------------------------------------
# The assistant behind the page: opened once, on first use or by main() before the server starts.

_assistant: Assistant | None = None
_quotes_only: Assistant | None = None
_assistant_lock = threading.Lock()
_overrides: dict = {}


def assistant(mode: str = "llm") -> Assistant:
    """The page's assistant; ``mode="extractive"`` gives one on the same store and embedder without the LLM."""
    global _assistant, _quotes_only
    with _assistant_lock:
        if _assistant is None:
            _assistant = Assistant.from_env(create=True, **_overrides)
        if mode != "extractive" or _assistant.llm is None:
            return _assistant
        if _quotes_only is None:
            _quotes_only = _assistant.without_llm()
        return _quotes_only


def uploads_dir() -> Path:
    return Path(assistant().config.store) / "uploads"


def user_errors(fn):
    """Library errors become ``gr.Error`` with their message; anything else is logged and summarised."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except QAError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong on the server ({e.__class__.__name__}); the details are in "
                           "its log.", print_exception=False) from None

    return wrapper


# ---------------------------------------------------------------------------------------------------------
# Callbacks


def respond(message: str, chat: list, history: list, turns: list, k: int, mode: str) -> Iterator[tuple]:
    """Stream one answer: user bubble, then the draft as the model writes, then the verified answer."""
    try:
        question = check_question(message)
        k = check_k(int(k))
        qa = assistant(mode)
    except QAError as e:
        raise gr.Error(str(e), print_exception=False) from None
    asked = [*chat, {"role": "user", "content": render_user(question)}]

    def reply(html: str) -> list:
        return [*asked, {"role": "assistant", "content": html}]

    yield "", reply(render_pending(qa.llm_status() if qa.llm else None)), history, turns, gr.skip()
    draft = ""
    answer: Answer | None = None
    try:
        for item in qa.stream(question, k=k, history=list(history)):
            if isinstance(item, str):
                draft += item
                yield gr.skip(), reply(render_draft(draft)), gr.skip(), gr.skip(), gr.skip()
            else:
                answer = item
        if answer is None:
            raise RuntimeError("the assistant's stream ended without an answer")
    except Exception as e:
        message = str(e) if isinstance(e, QAError) else f"Something went wrong on the server ({e.__class__.__name__})"
        if not isinstance(e, QAError):
            log.exception("answering %r failed", question)
        yield gr.skip(), reply(render_error(message)), gr.skip(), gr.skip(), gr.skip()
        raise gr.Error(message, print_exception=False) from None
    turn = len(turns) + 1
    history = [*history, {"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    turns = [*turns, (question, render_sources(answer, turn))]
    yield gr.skip(), reply(render_answer(answer, turn)), history, turns, render_panel(turns)


def new_conversation():
    return [], [], [], render_panel([])


@user_errors
def status_line() -> str:
    status = assistant().llm_status()
    hint = ""
    if "preparing" in status:
        hint = (" — the first start prepares the local model, once; questions wait for it (or choose "
                "*Quotes only* under Settings)")
    elif "starting" in status:
        hint = " — a few seconds"
    return f"**Answers:** {esc(status)}{hint}"


@user_errors
def collection() -> tuple:
    """The articles table, the delete choices and the one-line summary, from the store."""
    qa = assistant()
    arts = qa.articles()
    langs = Counter(a.lang or "?" for a in arts)
    if arts:
        summary = (f"**Articles:** {len(arts)} ({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}), "
                   f"{sum(a.passages for a in arts)} passages")
    else:
        summary = "**Articles:** none yet — add the bundled demo articles or upload your own under *Articles*."
    return (article_rows(arts), gr.update(choices=article_choices(arts), value=None), summary,
            gr.update(visible=not arts))


@user_errors
def settings_defaults() -> tuple:
    config = assistant().config
    if config.llm == "none":
        mode = gr.update(value="extractive", interactive=False,
                         info="The page was started without a language model (--llm none).")
    else:
        mode = gr.update(value="llm", interactive=True)
    return gr.update(value=min(config.k, 10)), mode


@user_errors
def add_uploads(files: list[str] | None, progress=gr.Progress(track_tqdm=True)) -> tuple:
    """Copy uploads into ``<store>/uploads`` under safe names, ingest them, and undo the copies that failed."""
    if not files:
        raise InputError(f"choose one or more files first ({', '.join(UPLOAD_SUFFIXES)})")
    qa = assistant()
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    progress(0, desc="Checking the files")
    problems: list[str] = []
    copied: dict[Path, Path | None] = {}  # stored file -> backup of the version it replaced
    for f in files:
        src = Path(f)
        name = src.name
        try:
            check_upload(src, name, qa.config.max_file_mb)
            target = upload_path(folder, name)
        except InputError as e:
            problems.append(str(e))
            continue
        if target in copied:
            problems.append(f"{name}: another file in this upload has the same name; skipped")
            continue
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.previous")
            os.replace(target, backup)
        partial = target.with_name(f".{target.name}.part")
        shutil.copyfile(src, partial)
        os.replace(partial, target)
        copied[target] = backup
    report = None
    try:
        if copied:
            progress(0, desc="Reading and embedding")
            report = qa.add_files(list(copied), progress=True)
    finally:
        failed = {Path(r.path).name: r.reason for r in report.failed} if report else {t.name: "" for t in copied}
        for target, backup in copied.items():
            if target.name in failed:
                target.unlink(missing_ok=True)
                if backup:
                    os.replace(backup, target)
            elif backup:
                backup.unlink(missing_ok=True)
    if report:
        problems += [f"{Path(r.path).name}: {r.reason}" for r in report.failed]
    if problems and not (report and (report.added or report.updated or report.skipped)):
        raise InputError("nothing was added. " + " ".join(problems))
    if problems:
        gr.Warning("Some files were not added: " + " ".join(problems))
    message = (f"Added {report.added}, updated {report.updated}, unchanged {report.skipped}; "
               f"{report.passages} passages in {report.seconds:.1f} s.")
    gr.Info(message)
    return (None, message, *collection())


@user_errors
def add_bundled(progress=gr.Progress(track_tqdm=True)) -> tuple:
    report = assistant().add_files([BUNDLED_ARTICLES], progress=True)
    message = f"Bundled demo articles: {report.summary()}"
    gr.Info(message)
    return (message, *collection())


@user_errors
def delete(path: str | None) -> tuple:
    if not path:
        raise InputError("choose an article to delete first")
    qa = assistant()
    qa.delete_article(path)
    stored = Path(path)
    if stored.parent.resolve() == uploads_dir().resolve():
        stored.unlink(missing_ok=True)
    message = f"Deleted {stored.name}."
    gr.Info(message)
    return (message, *collection())


# ---------------------------------------------------------------------------------------------------------
# The page

CSS = """
.qa-answer { line-height: 1.5; }
.qa-question { white-space: normal; }
.qa-badge { display: inline-block; font-size: .85em; padding: .1em .55em; border-radius: .6em; margin-bottom: .35em; }
.qa-badge-refused { background: #fde8e8; color: #8a1c1c; border: 1px solid #f5b5b5; }
.qa-badge-extractive { background: #e8f0fd; color: #1c3f8a; border: 1px solid #b5c9f5; }
.qa-refused .qa-text { font-style: italic; color: var(--body-text-color-subdued); }
.qa-failed { color: #a11; }
.qa-draft { opacity: .8; }
.qa-writing, .qa-pending { color: var(--body-text-color-subdued); font-size: .9em; }
.qa-rewritten { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: .3em; }
.qa-foot { font-size: .8em; color: var(--body-text-color-subdued); margin-top: .4em; }
a.qa-cite { font-weight: 600; text-decoration: none; padding: 0 .1em; border-radius: .3em; cursor: pointer; }
a.qa-cite:hover { background: #fff2a8; }
.qa-sources { font-size: .92em; max-height: 640px; overflow-y: auto; }
.qa-sources h4 { margin: .2em 0 .5em; }
.qa-turn + .qa-turn { border-top: 1px solid var(--border-color-primary); margin-top: .6em; padding-top: .4em; }
.qa-src { border: 1px solid var(--border-color-primary); border-radius: .5em; padding: .3em .6em; margin: .4em 0; }
.qa-src.qa-cited { border-color: #d9b400; }
.qa-src summary { cursor: pointer; }
.qa-n { font-weight: 700; }
.qa-meta { color: var(--body-text-color-subdued); font-size: .85em; }
.qa-passage { white-space: pre-wrap; margin: .3em 0 .2em; }
mark.qa-quote { background: #ffe566; color: #111; padding: 0 .1em; }
mark.qa-unverified { background: #ffd0d0; }
.qa-note, .qa-subhead { color: var(--body-text-color-subdued); font-size: .9em; }
.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { 0% { box-shadow: 0 0 0 4px #ffd000; } 100% { box-shadow: 0 0 0 0 transparent; } }
"""

# A click on [n] in an answer opens source n (and its turn, if folded) and scrolls to it.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-cite");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    for (let el = target; el; el = el.parentElement) if (el.tagName === "DETAILS") el.open = true;
    target.scrollIntoView({behavior: "smooth", block: "center"});
    target.classList.remove("qa-flash");
    void target.offsetWidth;
    target.classList.add("qa-flash");
  }, true);
}
"""


def build() -> gr.Blocks:
    with gr.Blocks(title="qa — ask the news", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("# Ask the news\nQuestions in any language about the articles in the collection. Every "
                    "answer cites its sources; click a **[n]** to see the quoted words in the article.")
        with gr.Row():
            llm_md = gr.Markdown(elem_id="qa-llm-status")
            store_md = gr.Markdown(elem_id="qa-store-status")
        history = gr.State([])
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(label="Conversation", elem_id="qa-chat", height=520, render_markdown=False,
                                          latex_delimiters=[], allow_tags=False, feedback_options=None, buttons=[],
                                          placeholder="Ask about the articles, in any language. Follow-up "
                                                      "questions are understood from the conversation.")
                        with gr.Row():
                            box = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=6, lines=1,
                                             max_lines=6, autofocus=True, elem_id="qa-question")
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                        gr.Examples([[q] for q in EXAMPLES], inputs=[box], label="Examples (any language works)")
                        with gr.Accordion("Settings", open=False):
                            k = gr.Slider(1, 10, value=5, step=1, label="Passages to read",
                                          info="More passages find more, but answers come slower.")
                            mode = gr.Radio(list(MODES.items()), value="llm", label="Answer mode",
                                            elem_id="qa-mode")
                        clear = gr.Button("New conversation", size="sm")
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render_panel([]), elem_id="qa-sources")
            with gr.Tab("Articles", id="articles"):
                bundled_row = gr.Row(visible=False)
                with bundled_row:
                    bundled = gr.Button("Add the 5 bundled demo articles (Arabic, Albanian, English, Italian)",
                                        variant="primary")
                table = gr.Dataframe(headers=["File", "Title", "Language", "Date", "Passages"],
                                     datatype=["str", "str", "str", "str", "number"], interactive=False,
                                     column_widths=["28%", "48%", "8%", "8%", "8%"],
                                     latex_delimiters=[], wrap=True, label="Articles in the collection",
                                     elem_id="qa-articles")
                with gr.Row():
                    with gr.Column():
                        files = gr.File(label=f"Upload articles ({', '.join(UPLOAD_SUFFIXES)})", file_count="multiple",
                                        file_types=UPLOAD_SUFFIXES, elem_id="qa-upload")
                        add = gr.Button("Add to the collection", variant="primary", elem_id="qa-add")
                        gr.Markdown("A file with the same name as an earlier upload replaces it.")
                    with gr.Column():
                        pick = gr.Dropdown(label="Delete an article", choices=[], value=None, elem_id="qa-pick")
                        remove = gr.Button("Delete", variant="stop", elem_id="qa-delete")
                result = gr.Markdown(elem_id="qa-result", min_height=40)
        timer = gr.Timer(3.0)

        listing = [table, pick, store_md, bundled_row]
        page.load(status_line, None, llm_md, queue=False, show_progress="hidden")
        page.load(collection, None, listing, queue=False, show_progress="hidden")
        page.load(settings_defaults, None, [k, mode], queue=False, show_progress="hidden")
        timer.tick(status_line, None, llm_md, queue=False, show_progress="hidden")
        ask_io = dict(fn=respond, inputs=[box, chat, history, turns, k, mode],
                      outputs=[box, chat, history, turns, sources], concurrency_id="assistant",
                      show_progress_on=chat)
        box.submit(**ask_io)
        send.click(**ask_io)
        clear.click(new_conversation, None, [chat, history, turns, sources], queue=False)
        chat.clear(new_conversation, None, [chat, history, turns, sources], queue=False)
        # Progress and errors show on the result line only, so no error badge covers the list or the inputs.
        add.click(add_uploads, files, [files, result, *listing], concurrency_id="assistant", show_progress_on=result)
        bundled.click(add_bundled, None, [result, *listing], concurrency_id="assistant", show_progress_on=result)
        remove.click(delete, pick, [result, *listing], concurrency_id="assistant", show_progress_on=result)
    page.queue(default_concurrency_limit=1, max_size=64)
    return page


demo = build()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python app.py", description="The question-answering page.")
    ap.add_argument("--host", default=os.environ.get("QA_HOST", "127.0.0.1"),
                    help="address to listen on (default QA_HOST or 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("QA_PORT") or 7860),
                    help="port (default QA_PORT or 7860)")
    ap.add_argument("--store", type=Path, help="store folder (default QA_STORE or data/store)")
    ap.add_argument("--llm", choices=LLM_MODES, help="local | openai | none (default QA_LLM or local)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _overrides.update(store=a.store, llm=a.llm)
    try:
        auth = parse_auth(os.environ.get("QA_AUTH"))
        qa = assistant()
    except QAError as e:
        print(f"app: error: {e}", file=sys.stderr)
        return 1
    config = qa.config
    if qa.llm is not None:  # the local model: prepare it while the first user reads the page
        threading.Thread(target=_warm_up, args=(qa.start_llm,), name="llm-warm-up", daemon=True).start()
    log.info("store %s, %d articles; answers: %s", config.store_location, len(qa.articles()), qa.llm_status())
    # SIGTERM (service managers, test harnesses) ends the server like Ctrl-C, so the local model stops too.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=a.host, server_port=a.port, share=False, auth=auth, inbrowser=False,
                    auth_message="Log in with the QA_AUTH user and password." if auth else None,
                    max_file_size=f"{config.max_file_mb:g}mb", allowed_paths=[],
                    blocked_paths=[str(Path(config.store).resolve()), str(config.cache_dir.resolve())],
                    footer_links=[], css=CSS, js=JS, ssr_mode=False, mcp_server=False)
    except KeyboardInterrupt:
        pass
    finally:
        qa.close()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _warm_up(start) -> None:
    try:
        start()
    except QAError as e:  # the status line shows it; the first question will try again
        log.warning("the language model could not be prepared: %s", e)


if __name__ == "__main__":
    sys.exit(main())
