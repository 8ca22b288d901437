"""Saved conversations in a real browser, against ``python app.py --llm none``: ask, reload the page, reopen the
conversation from the list (its answer and its sources panel, quote highlighted, as when it was asked), export it
as Markdown and find every quote of the saved answers in it, verbatim.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.qa.web.test_browser import (  # noqa: F401
    BUNDLED,
    CHROMIUM,
    QUESTION,
    ask,
    browser,
    open_cited_source,
    screenshot_on_failure,
    serve,
    store,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_a_conversation_reopens_after_a_reload_and_exports_every_quote(store, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    log = tmp_path / "server.log"
    with serve(store, "none", log) as url, browser() as page, screenshot_on_failure(page, "conversations", log):
        page.goto(url)
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")
        asked = ask(page, QUESTION, 60)
        expect(asked).to_contain_text("Paris")
        entry = page.locator("#qa-conversations label").first
        expect(entry).to_contain_text(QUESTION[:40])  # listed as soon as the answer is saved

        # A reload starts empty; the last conversation is the first of the list, and opens as it was.
        page.reload()
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")
        expect(page.locator("#qa-chat .qa-answer")).to_have_count(0)
        entry = page.locator("#qa-conversations label").first
        expect(entry).to_contain_text(QUESTION[:40])
        entry.click()
        answer = page.locator("#qa-chat .qa-answer")
        expect(answer).to_have_count(1)
        expect(answer.first).to_contain_text("Paris")
        expect(page.locator("#qa-chat .qa-question").first).to_have_text(QUESTION)
        expect(page.locator("#qa-sources .qa-latest h4")).to_have_text(QUESTION)
        source, quote = open_cited_source(page, answer.first)
        article = (BUNDLED / source.get_attribute("data-source")).read_text(encoding="utf-8")
        assert quote and quote in article, "the highlighted quote is not verbatim in the cited article"

        # Export: a Markdown file with every quote of the saved conversation, verbatim.
        page.locator("#qa-export").click()
        link = page.locator("#qa-exported a[download]").first
        expect(link).to_be_visible()
        with page.expect_download() as download:
            link.click()
        markdown = Path(download.value.path()).read_text(encoding="utf-8")
        conversations = httpx.get(f"{url}/api/conversations", timeout=30).json()["conversations"]
        assert [c["title"] for c in conversations] == [QUESTION]
        saved = httpx.get(f"{url}/api/conversations/{conversations[0]['id']}", timeout=30).json()
        quotes = [c["quote"] for t in saved["turns"] for c in t["answer"]["citations"]]
        assert quotes and any(q in quote for q in quotes), "the highlighted words are not a saved quote"
        assert markdown.startswith(f"# {QUESTION}\n")
        for q in quotes:
            assert f"«{q}»" in markdown
        assert markdown == httpx.get(f"{url}/api/conversations/{conversations[0]['id']}/export", timeout=30).text
