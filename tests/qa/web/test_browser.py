"""The page in a real browser: Debian's chromium, driven by Playwright, against ``python app.py`` in a subprocess.

One scenario, run without a language model (extractive answers, fast) and with the bundled local model
(``slow``): ask, wait for the streamed answer with a citation, open its source and find the highlighted quote
verbatim in the article file, ask a follow-up in Italian, upload an article (with HTML in it, which must stay
text) and see it cited, trigger errors and read their messages, delete the upload.

Failures leave a screenshot and the server log in ``reports/browser/``. Each run writes ``docs/screenshot.png``
(the picture the README shows) once the first answer's source is open; the local-model run, second, wins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qa.errors import ProcessError
from qa.process import free_port, serving

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPORTS = ROOT / "reports" / "browser"
SCREENSHOT = ROOT / "docs" / "screenshot.png"
BUNDLED = ROOT / "data" / "articles"

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
FIGURE_QUESTION = "How many additional North Korean soldiers went to Russia early this year?"
KILLED = "How many people were killed in the missile attack on Dnipro?"
FOLLOW_UP = "e quanti feriti?"
DNIPRO_ARTICLE = "002_b91f1ef5999b48e8.txt"
UPLOAD_NAME = "ohrid trout (draft) #1.txt"
UPLOAD_TEXT = """Ministers agree to protect the Lake Ohrid trout <img src=x onerror="window.__pwned=1">

Environment ministers from Albania and North Macedonia agreed on Tuesday in Pogradec to ban trout fishing in \
Lake Ohrid for three years, to let the endangered koran trout recover. The ban starts in March and covers the \
whole lake, the ministers said in a joint statement. <script>window.__pwned=2</script>
"""
UPLOAD_QUESTION = "In which town did the ministers agree to ban trout fishing in Lake Ohrid?"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; scripts/setup --test does it)",
    ),
]


# --- the server and the browser -----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path) -> Path:
    """A fresh store holding the bundled corpus (each run uploads and deletes, so none is shared)."""
    path = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "--store", str(path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return path


@contextmanager
def serve(store: Path, llm: str, log: Path) -> Iterator[str]:
    """``python app.py`` on a free port until the block ends; SIGTERM stops it (and its local model)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The caller's settings stay out (a login, another store or endpoint), except where the model lives.
    keep = {"QA_CACHE_DIR", "QA_MODEL_PATH", "QA_LLM_THREADS"}
    env = {k: v for k, v in os.environ.items() if k in keep or not k.startswith(("QA_", "OPENAI_"))}
    # A busy CI machine can make the local model slow: this test is about the page, not about latency.
    env.update(GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", QA_LLM_TIMEOUT="600", QA_LLM_IDLE="0")
    cmd = [sys.executable, "app.py", "--llm", llm, "--store", str(store), "--port", str(port)]
    try:
        with serving(cmd, url, log, timeout=180, env=env, cwd=ROOT):
            yield url
    except ProcessError as e:
        pytest.fail(str(e))


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 960})
            page.set_default_timeout(30_000)
            yield page
        finally:
            chromium.close()


@contextmanager
def screenshot_on_failure(page, name: str, log: Path):
    try:
        yield
    except BaseException:
        REPORTS.mkdir(parents=True, exist_ok=True)
        shot = REPORTS / f"{name}-failure.png"
        page.screenshot(path=str(shot), full_page=True)
        kept = REPORTS / f"{name}-server.log"
        kept.write_bytes(log.read_bytes())
        print(f"\nbrowser test failed: screenshot {shot}, server log {kept}", file=sys.stderr)
        raise


# --- what a user does ---------------------------------------------------------------------------------

WATCH = """() => {
  window.__seen = {draft: false, pending: false, progress: false};
  new MutationObserver(() => {
    if (document.querySelector('#qa-chat .qa-draft')) window.__seen.draft = true;
    if (document.querySelector('#qa-chat .qa-pending')) window.__seen.pending = true;
    if (document.querySelector('#qa-result [role=progressbar]')) window.__seen.progress = true;
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def ask(page, question: str, timeout_s: float):
    """Type the question, press Enter, and return the final (verified) answer bubble."""
    from playwright.sync_api import expect

    final = page.locator("#qa-chat .qa-answer:not(.qa-draft)")
    before = final.count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    expect(final).to_have_count(before + 1, timeout=timeout_s * 1000)
    return final.last


def open_cited_source(page, answer):
    """Click the answer's first [n]; its source must open and show a highlighted quote; return both."""
    from playwright.sync_api import expect

    link = answer.locator("a.qa-cite").first
    expect(link).to_be_visible()
    source = page.locator(link.get_attribute("href"))
    source.evaluate("el => { el.open = false; }")  # cited sources start open: prove the click opens it
    link.click()
    expect(source).to_have_attribute("open", "")
    expect(source).to_be_in_viewport()
    mark = source.locator("mark.qa-quote").first
    expect(mark).to_be_visible()
    return source, mark.text_content()


def toast(page, text: str):
    from playwright.sync_api import expect

    expect(page.locator(".toast-body").filter(has_text=text).first).to_be_visible()


@pytest.mark.parametrize("llm", ["none", pytest.param("local", marks=pytest.mark.slow)])
def test_ask_cite_upload_and_errors_in_a_real_browser(llm, store, tmp_path):
    from playwright.sync_api import expect

    first_answer_s = 60 if llm == "none" else 1200  # the local model may be assembled and started first
    answer_s = 60 if llm == "none" else 900
    log = tmp_path / "server.log"
    with serve(store, llm, log) as url, browser() as page, screenshot_on_failure(page, f"llm-{llm}", log):
        page.goto(url)
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")
        expect(page.locator("#qa-llm-status")).to_contain_text("extractive" if llm == "none" else "local")
        page.evaluate(WATCH)

        # Ask; the answer streams in, then carries a [n] that opens its source with the quote highlighted. The
        # model writes an answer line only for a figure (qa/phrase.py): with it, a question about one.
        question, expected = (QUESTION, "Paris") if llm == "none" else (FIGURE_QUESTION, "3,000")
        answer = ask(page, question, first_answer_s)
        expect(answer).to_contain_text(expected)
        expect(answer).not_to_have_class(re.compile(r"\bqa-refused\b"))
        seen = page.evaluate("window.__seen")
        assert seen["pending"], "no 'Searching the articles…' placeholder was shown while answering"
        if llm == "none":
            expect(answer.locator(".qa-badge-extractive")).to_be_visible()
        else:
            assert seen["draft"], "the local model's answer was not streamed as a draft"
            expect(answer).to_have_class(re.compile(r"\bqa-llm\b"))
            expect(page.locator("#qa-llm-status")).to_contain_text("ready")
        source, quote = open_cited_source(page, answer)
        assert quote and quote in (BUNDLED / source.get_attribute("data-source")).read_text(encoding="utf-8"), (
            "the highlighted quote is not verbatim in the cited article"
        )
        page.wait_for_timeout(800)  # let the scroll and highlight settle
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))  # the local-model run comes second and has the last word

        # A short follow-up in Italian is searched together with the English question before it.
        ask(page, KILLED, answer_s)
        follow = ask(page, FOLLOW_UP, answer_s)
        expect(follow.locator(".qa-rewritten")).to_contain_text("Dnipro")
        latest = page.locator("#qa-sources .qa-latest")
        expect(latest.locator("h4")).to_have_text(FOLLOW_UP)
        expect(latest.locator(f'.qa-src[data-source="{DNIPRO_ARTICLE}"]').first).to_be_attached()

        # Errors reach the user as messages: an empty question, then a file too short to be an article.
        page.locator("#qa-ask").click()
        toast(page, "the question is empty")
        page.get_by_role("tab", name="Articles").click()
        tiny = tmp_path / "tiny.txt"
        tiny.write_text("hi there")
        page.set_input_files("#qa-upload input[type=file]", str(tiny))
        expect(page.locator("#qa-upload")).to_contain_text("tiny.txt")
        page.locator("#qa-add").click()
        toast(page, "too little text to be an article")
        assert not (store / "uploads" / "tiny.txt").exists()

        # Upload an article: a progress bar while it is read and embedded, then it is listed.
        article = tmp_path / UPLOAD_NAME
        article.write_text(UPLOAD_TEXT, encoding="utf-8")
        page.set_input_files("#qa-upload input[type=file]", str(article))
        expect(page.locator("#qa-upload")).to_contain_text("ohrid")
        page.locator("#qa-add").click()
        expect(page.locator("#qa-result")).to_contain_text("Added 1", timeout=answer_s * 1000)
        assert page.evaluate("window.__seen.progress"), "no progress bar was shown while ingesting"
        stored = [p.name for p in (store / "uploads").iterdir()]
        assert len(stored) == 1 and "ohrid" in stored[0], stored
        expect(page.locator("#qa-articles")).to_contain_text(stored[0])
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 6")

        # Ask about it: the upload is cited, and its HTML stayed text.
        page.get_by_role("tab", name="Ask").click()
        about = ask(page, UPLOAD_QUESTION, answer_s)
        expect(about).to_contain_text("Pogradec")
        expect(page.locator(f'#qa-sources .qa-latest .qa-cited[data-source="{stored[0]}"]').first).to_be_visible()
        expect(page.locator("#qa-sources .qa-latest").first).to_contain_text('<img src=x onerror="window.__pwned=1">')
        assert page.evaluate("window.__pwned") is None, "HTML from an article ran in the page"
        assert page.locator("#qa-sources img, #qa-chat img[src=x], #qa-articles img").count() == 0

        # Files the page does not need are not served.
        blocked = page.request.get(f"{url}/gradio_api/file={store / 'uploads' / stored[0]}")
        assert blocked.status == 403

        # Delete the upload: gone from the list and from the store's uploads folder.
        page.get_by_role("tab", name="Articles").click()
        page.locator("#qa-pick input").click()
        page.get_by_role("option", name=stored[0]).click()
        page.locator("#qa-delete").click()
        toast(page, f"Deleted {stored[0]}")
        expect(page.locator("#qa-articles")).not_to_contain_text(stored[0])
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")
        assert list((store / "uploads").iterdir()) == []
