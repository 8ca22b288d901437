"""app.py: the page's HTML rendering (escaping, quote highlighting, links, RTL), safe upload names, and its
callbacks driven with a fake assistant (streaming, errors, uploads confined to ``<store>/uploads``).

The real page in a real browser is tested in ``tests/test_app_browser.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import gradio as gr
import pytest

import app
from ingest.sync import SyncReport
from qa.errors import FileRejected, InputError, LLMError, StoreBusy
from qa.types import Answer, Citation, Passage

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
ARTICLE = "Intro line.\n\nLeaders will meet on Thursday in Paris to discuss aid. Other news follows."


def passage(text: str = ARTICLE, start: int = 0, lang: str | None = "en", **kw) -> Passage:
    return Passage(id="p", source=kw.pop("source", "a.txt"), path="/x/a.txt", text=text, start=start,
                   end=start + len(text), title=kw.pop("title", "A title"), date=kw.pop("date", "2025-03-01"),
                   lang=lang, score=0.9, **kw)


def citation(p: Passage, quote: str, n: int = 1, verified: bool = True, offset: int | None = None) -> Citation:
    at = p.text.find(quote) if offset is None else offset
    return Citation(n=n, source=p.source, quote=quote, start=p.start + at, end=p.start + at + len(quote),
                    verified=verified, title=p.title, date=p.date, lang=p.lang)


def answer(text="In Paris [1].", passages=None, citations=None, **kw) -> Answer:
    passages = passages if passages is not None else [passage(start=100)]
    if citations is None:
        citations = [citation(passages[0], "Leaders will meet on Thursday in Paris")]
    return Answer(question=kw.pop("question", "Where do leaders meet?"), text=text, refused=kw.pop("refused", False),
                  mode=kw.pop("mode", "llm"), citations=citations, passages=passages, timings={"total_s": 2.34},
                  **kw)


# --- escaping -----------------------------------------------------------------------------------------

def test_nothing_from_an_article_renders_as_html():
    p = passage(text=f"Title {EVIL}\n\nLeaders will meet in Paris {EVIL}.", title=EVIL, source=f"{EVIL}.txt",
                date=EVIL, lang='en" onclick="x')
    a = answer(text=f"Paris {EVIL} [1]", passages=[p], citations=[citation(p, f"Paris {EVIL}")],
               rewritten=EVIL, note=EVIL, question=EVIL)
    for out in (app.render_answer(a, 1), app.render_sources(a, 1), app.render_panel([(EVIL, "")]),
                app.render_user(EVIL), app.render_draft(EVIL), app.render_error(EVIL), app.render_pending(EVIL)):
        assert "<img" not in out and "<script" not in out and 'onerror="' not in out
        assert 'onclick="' not in out
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in app.render_sources(a, 1)


def test_lang_attribute_only_for_plausible_codes():
    assert app.lang_attr("ar") == ' lang="ar"'
    assert app.lang_attr("pt-BR") == ' lang="pt-BR"'
    assert app.lang_attr('en" x="') == ""
    assert app.lang_attr(None) == ""


# --- the answer bubble --------------------------------------------------------------------------------

def test_markers_link_to_their_source_of_this_turn():
    a = answer(text="Paris [1], maybe [2] and [7].", passages=[passage(), passage()])
    html = app.render_answer(a, 3)
    assert '<a class="qa-cite" href="#src-3-1" title="A title">[1]</a>' in html
    assert 'href="#src-3-2"' in html
    assert "[7]" in html and 'href="#src-3-7"' not in html  # no passage 7: left as text


def test_refusal_extractive_and_rewritten_are_labelled():
    refused = app.render_answer(answer(text="The articles do not say.", refused=True, citations=[],
                                       note="no passage is close enough"), 1)
    assert "qa-refused" in refused and "Not answered" in refused and "related passages" in refused
    assert "no passage is close enough" in refused
    extractive = app.render_answer(answer(text="«Leaders will meet» [1]", mode="extractive"), 1)
    assert "qa-extractive" in extractive and "Extractive answer" in extractive
    plain = app.render_answer(answer(), 1)
    assert "Extractive" not in plain and "Not answered" not in plain and "Searched for" not in plain
    follow = app.render_answer(answer(question="e quanti?", rewritten="How many were killed? e quanti?"), 1)
    assert "Searched for: <q dir=\"auto\">How many were killed? e quanti?</q>" in follow


def test_footer_counts_cited_sources_dropped_sentences_and_time():
    a = answer(dropped=1)
    assert app.answer_footer(a) == "1 source cited · 1 unsupported sentence removed · 2.3 s"


def test_answer_text_direction_follows_its_script():
    assert '<div class="qa-text" dir="auto">' in app.render_answer(answer(text="في باريس [1]"), 1)


# --- the sources panel --------------------------------------------------------------------------------

def test_quote_is_highlighted_at_its_offsets_inside_the_passage():
    p = passage(start=1000)
    html = app.render_sources(answer(passages=[p]), 1)
    assert '<mark class="qa-quote">Leaders will meet on Thursday in Paris</mark>' in html
    assert 'id="src-1-1" data-source="a.txt" open>' in html


def test_quote_spans_use_article_offsets_and_fall_back_to_searching():
    p = passage(start=500)
    good = citation(p, "Thursday")
    moved = Citation(n=1, source="a.txt", quote="Paris", start=0, end=5, verified=True)  # stale offsets
    missing = Citation(n=1, source="a.txt", quote="not in there", start=0, end=12, verified=True)
    spans, unplaced = app.quote_spans(p.text, p.start, [good, moved, missing])
    assert [p.text[s:e] for s, e, _ in spans] == ["Thursday", "Paris"]
    assert unplaced == [missing]


def test_overlapping_quotes_merge_and_unverified_ones_are_marked():
    p = passage()
    spans, _ = app.quote_spans(p.text, 0, [citation(p, "meet on Thursday"), citation(p, "Thursday in Paris", verified=False)])
    assert spans == [(p.text.find("meet"), p.text.find("Paris") + 5, False)]
    assert 'class="qa-quote qa-unverified"' in app.highlight(p.text, spans)


def test_cited_passages_come_first_and_the_others_are_folded():
    ps = [passage(text="Nothing relevant here at all."), passage(start=100)]
    a = answer(text="In Paris [2].", passages=ps, citations=[citation(ps[1], "in Paris", n=2)])
    html = app.render_sources(a, 1)
    assert html.index('id="src-1-2"') < html.index("Also retrieved, not cited") < html.index('id="src-1-1"')
    assert 'id="src-1-1" data-source="a.txt">' in html  # closed


def test_refusal_still_lists_related_passages():
    a = answer(text="The articles do not say.", refused=True, citations=[], passages=[passage(), passage()])
    html = app.render_sources(a, 1)
    assert "closest ones" in html and html.count('class="qa-src"') == 2


def test_arabic_passages_render_right_to_left():
    p = passage(text="قال كيم إن الجيش سيدعم روسيا.", lang="ar", title=None, source="000.txt")
    html = app.render_sources(answer(text="نعم [1]", passages=[p], citations=[citation(p, "سيدعم روسيا")]), 1)
    assert '<div class="qa-passage" dir="rtl" lang="ar">' in html
    assert '<span class="qa-title" dir="auto">000.txt</span> <span class="qa-meta" dir="ltr">2025-03-01 · ar</span>' in html


def test_leading_blank_lines_are_trimmed_without_moving_the_highlight():
    p = passage(text="\n\n  Leaders meet in Paris.", start=50)
    html = app.render_sources(answer(passages=[p], citations=[citation(p, "Paris")]), 1)
    assert 'lang="en">Leaders meet in <mark class="qa-quote">Paris</mark>.</div>' in html


def test_panel_shows_newest_turn_open_and_older_ones_folded():
    html = app.render_panel([("first?", "<p>one</p>"), ("second?", "<p>two</p>")])
    assert html.index("second?") < html.index("first?")
    assert '<section class="qa-turn qa-latest" id="turn-2">' in html
    assert '<details class="qa-turn" id="turn-1">' in html
    assert "Ask a question" in app.render_panel([])


# --- uploads: names and limits ------------------------------------------------------------------------

@pytest.mark.parametrize("name, safe", [
    ("report.txt", "report.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.MD", "evil.md"),
    ("..", "upload"),
    (".hidden.txt", "hidden.txt"),
    ("a<b>|c:d?.html", "a_b_c_d.html"),
    ("nul\x00byte\n.txt", "nulbyte.txt"),
    ("مقالة الأخبار.txt", "مقالة الأخبار.txt"),
    ("", "upload"),
])
def test_safe_filename(name, safe):
    assert app.safe_filename(name) == safe


def test_safe_filename_keeps_the_suffix_of_long_names():
    out = app.safe_filename("x" * 500 + ".html")
    assert len(out) == app.MAX_NAME_CHARS and out.endswith(".html")


def test_upload_path_never_leaves_the_folder(tmp_path):
    for name in ("../../x.txt", "/etc/x.txt", "a/../../x.txt", "..", "./.."):
        assert app.upload_path(tmp_path, name).parent == tmp_path


def test_check_upload_limits_type_size_and_emptiness(tmp_path):
    ok = tmp_path / "ok.txt"
    ok.write_text("some text " * 10)
    app.check_upload(ok, "ok.txt", 1)
    with pytest.raises(InputError, match="unsupported file type .exe"):
        app.check_upload(ok, "ok.exe", 1)
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 2_000_001)
    with pytest.raises(InputError, match="over the 2 MB limit"):
        app.check_upload(big, "big.md", 2)
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        app.check_upload(empty, "e.txt", 1)


def test_parse_auth():
    assert app.parse_auth(None) is None
    assert app.parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    with pytest.raises(Exception, match="user:password"):
        app.parse_auth("ann")


def test_cli_defaults_are_local_only(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    a = app.parse_args([])
    assert (a.host, a.port, a.store, a.llm) == ("127.0.0.1", 7860, None, None)
    monkeypatch.setenv("QA_PORT", "9000")
    assert app.parse_args(["--llm", "none"]).port == 9000


# --- callbacks, with a fake assistant -----------------------------------------------------------------

@dataclass
class FakeConfig:
    store: Path
    max_file_mb: float = 1.0
    k: int = 5
    llm: str = "local"


@dataclass
class FakeAssistant:
    config: FakeConfig
    script: list = field(default_factory=list)  # what stream() yields; an exception instance is raised
    llm: object = "fake-llm"
    calls: list = field(default_factory=list)
    reject: set = field(default_factory=set)  # file names add_files reports as failed

    def llm_status(self) -> str:
        return "local model: ready"

    def without_llm(self) -> "FakeAssistant":
        return replace(self, llm=None)

    def stream(self, question, k=5, history=None):
        self.calls.append((question, k, history))
        for item in self.script:
            if isinstance(item, Exception):
                raise item
            yield item

    def add_files(self, paths, progress=False):
        self.calls.append(("add", [Path(p) for p in paths]))
        report = SyncReport()
        for p in paths:
            if Path(p).name in self.reject:
                report.failed.append(FileRejected(str(p), "too little text"))
            else:
                report.added += 1
        return report

    def articles(self):
        return []

    def delete_article(self, path):
        self.calls.append(("delete", path))
        return 1


@pytest.fixture
def fake(tmp_path, monkeypatch):
    f = FakeAssistant(FakeConfig(store=tmp_path / "store"))
    monkeypatch.setattr(app, "_assistant", f)
    return f


def run(gen) -> list[tuple]:
    return list(gen)


def test_respond_streams_the_draft_then_replaces_it_with_the_verified_answer(fake):
    final = answer(text="Paris [1].")
    fake.script = ["In Par", "is, on Thursday [1].", final]
    steps = run(app.respond("  Where do leaders meet? ", [], [], [], 4, "llm"))
    assert steps[0][0] == "" and "Searching the articles" in steps[0][1][-1]["content"]
    assert "In Paris, on Thursday [1]." in steps[2][1][-1]["content"] and "qa-draft" in steps[2][1][-1]["content"]
    _, chat, history, turns, panel = steps[-1]
    assert "qa-draft" not in chat[-1]["content"] and "Thursday" not in chat[-1]["content"]
    assert 'href="#src-1-1"' in chat[-1]["content"]
    assert history == [{"role": "user", "content": "Where do leaders meet?"}, {"role": "assistant", "content": "Paris [1]."}]
    assert turns[0][0] == "Where do leaders meet?" and "<mark" in panel
    assert fake.calls == [("Where do leaders meet?", 4, [])]


def test_follow_up_sends_the_plain_text_history(fake):
    history = [{"role": "user", "content": "How many were killed?"}, {"role": "assistant", "content": "Three [1]."}]
    fake.script = [answer(question="e i feriti?", rewritten="How many were killed? e i feriti?")]
    steps = run(app.respond("e i feriti?", [{"role": "user", "content": "x"}], history, [("q", "")], 5, "llm"))
    assert fake.calls[0][2] == history
    assert "Searched for" in steps[-1][1][-1]["content"] and 'href="#src-2-1"' in steps[-1][1][-1]["content"]


def test_empty_question_is_a_gr_error_before_anything_changes(fake):
    with pytest.raises(gr.Error, match="empty"):
        run(app.respond("   ", [], [], [], 5, "llm"))
    assert fake.calls == []


def test_library_error_mid_stream_is_shown_in_the_chat_and_as_gr_error(fake):
    fake.script = ["Par", LLMError("the local model server stopped")]
    steps = []
    with pytest.raises(gr.Error, match="server stopped"):
        for step in app.respond("Where?", [], [], [], 5, "llm"):
            steps.append(step)
    assert "qa-failed" in steps[-1][1][-1]["content"] and "server stopped" in steps[-1][1][-1]["content"]


def test_unexpected_error_never_shows_a_traceback(fake):
    fake.script = [ZeroDivisionError("secret internals")]
    with pytest.raises(gr.Error) as e:
        run(app.respond("Where?", [], [], [], 5, "llm"))
    assert "secret internals" not in str(e.value) and "ZeroDivisionError" in str(e.value)


def test_extractive_mode_uses_an_assistant_without_llm(fake, monkeypatch):
    monkeypatch.setattr(app, "_quotes_only", None)
    quotes = app.assistant("extractive")
    assert quotes.llm is None and quotes is not fake and app.assistant("extractive") is quotes
    assert app.assistant("llm") is fake


def upload(tmp_path: Path, name: str, text: str = "An article with enough words to be read. " * 3) -> str:
    folder = tmp_path / "gradio" / str(len(list(tmp_path.glob("gradio/*"))))
    folder.mkdir(parents=True)
    (folder / name).write_text(text)
    return str(folder / name)


def test_uploads_are_copied_into_the_store_uploads_folder_only(fake, tmp_path):
    files = [upload(tmp_path, "good.txt"), upload(tmp_path, "..good2.md"), upload(tmp_path, "virus.exe")]
    with pytest.warns(UserWarning, match="virus.exe: unsupported file type"):
        out = app.add_uploads(files)
    uploads = fake.config.store / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["good.txt", "good2.md"]
    assert fake.calls[0] == ("add", [uploads / "good.txt", uploads / "good2.md"])
    assert out[0] is None and out[1].startswith("Added 2")
    assert not list(tmp_path.rglob("*.part")) and not (tmp_path / "store" / "virus.exe").exists()


def test_rejected_uploads_are_removed_and_a_replaced_file_restored(fake, tmp_path):
    uploads = fake.config.store / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "old.txt").write_text("the version already ingested")
    fake.reject = {"old.txt", "new.txt"}
    with pytest.raises(gr.Error, match="nothing was added.*too little text"):
        app.add_uploads([upload(tmp_path, "old.txt", "x"), upload(tmp_path, "new.txt", "y")])
    assert sorted(p.name for p in uploads.iterdir()) == ["old.txt"]
    assert (uploads / "old.txt").read_text() == "the version already ingested"


def test_store_busy_during_upload_is_a_gr_error_and_leaves_no_copy(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(fake, "add_files", lambda paths, progress=False: (_ for _ in ()).throw(StoreBusy("busy; wait")))
    with pytest.raises(gr.Error, match="busy; wait"):
        app.add_uploads([upload(tmp_path, "a.txt")])
    assert list((fake.config.store / "uploads").iterdir()) == []


def test_no_files_chosen_is_a_gr_error(fake):
    with pytest.raises(gr.Error, match="choose one or more files"):
        app.add_uploads([])


def test_delete_removes_the_uploaded_copy_but_never_other_files(fake, tmp_path):
    uploads = fake.config.store / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "mine.txt").write_text("x")
    outside = tmp_path / "bundled.txt"
    outside.write_text("x")
    app.delete(str(uploads / "mine.txt"))
    app.delete(str(outside))
    assert not (uploads / "mine.txt").exists() and outside.exists()
    with pytest.raises(gr.Error, match="choose an article"):
        app.delete(None)


def test_page_has_the_promised_parts():
    config = app.demo.config
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"qa-chat", "qa-question", "qa-sources", "qa-upload", "qa-articles", "qa-pick", "qa-llm-status"} <= ids
    examples = [c for c in config["components"] if c.get("type") == "dataset"]
    text = str(examples)
    for q in app.EXAMPLES:
        assert q in text
