"""The answer's "Copy" button in a real browser, against ``python app.py`` (the page and its API on one port).

Ask on the page, press Copy, read the clipboard: the Markdown holds every quote of the same answer asked
through ``/api/ask`` of the same server, verbatim.
"""

from __future__ import annotations

import httpx
import pytest

from tests.qa.web.test_browser import CHROMIUM, QUESTION, ask, browser, screenshot_on_failure, serve, store  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_copy_puts_the_answer_and_every_quote_as_markdown_on_the_clipboard(store, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    log = tmp_path / "server.log"
    with serve(store, "none", log) as url, browser() as page, screenshot_on_failure(page, "copy", log):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        expected = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()
        assert expected["citations"]
        page.goto(url)
        answer = ask(page, QUESTION, 60)
        button = answer.locator("button.qa-copy")
        expect(button).to_be_visible()
        button.click()
        expect(button).to_have_text("Copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith(f"## {QUESTION}\n")
        assert expected["answer"] in copied
        for c in expected["citations"]:
            assert f"«{c['quote']}»" in copied and c["source"] in copied
