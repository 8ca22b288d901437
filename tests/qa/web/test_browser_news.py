"""The news desk on the page, in a real browser: dated articles, a PDF and a web page's syndicated copy.

Ingested by the CLI (the web page from the local test site on 127.0.0.1): the later of two articles stating the
same fact is quoted first with each date, "on Thursday" gets its date, the copy is listed, the Filters narrow
a question to a date range and to one source, and a PDF's quote names its page. Writes
``docs/screenshot-news.png``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.pdfs import LONG_REPORT, text_pdf
from tests.ingest.site import COPIES
from tests.ingest.site import serve as serve_site
from tests.qa.web.test_browser import CHROMIUM, ROOT, ask, browser, screenshot_on_failure, serve

SCREENSHOT = ROOT / "docs" / "screenshot-news.png"
SHIP = "Which ship did Finland's coast guard board after the cables were damaged?"
# Named in full: after a question about the cables, "the repairs of the cable" would lean on it (qa.resolve).
COST = "How much are the repairs of the Baltic cable expected to cost?"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def news_store(tmp_path) -> tuple[Path, str]:
    """Two dated articles of one story (the second edited and a week later), a three-page PDF, and a web page
    that copies the later article; the copy's URL."""
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "first.txt").write_text(f"date 2024-12-27\n\n{(COPIES / 'original.txt').read_text()}")
    (folder / "later.txt").write_text(f"date 2025-01-03\n\n{(COPIES / 'edited_copy.txt').read_text()}")
    (folder / "report.pdf").write_bytes(text_pdf(LONG_REPORT, "Cable report"))
    store = tmp_path / "store"
    with serve_site() as site:
        copy = f"{site}/copies/edited_copy.html?published=2025-01-04"
        done = subprocess.run(
            [sys.executable, "-m", "ingest", str(folder), copy, "--store", str(store), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr
    assert f"{copy} is a copy of {folder / 'later.txt'}" in done.stderr
    return store, copy


def test_dates_copies_pages_and_filters_in_a_real_browser(news_store, tmp_path):
    from playwright.sync_api import expect

    store, copy = news_store
    log = tmp_path / "server.log"
    with serve(store, "none", log) as url, browser() as page, screenshot_on_failure(page, "news", log):
        page.goto(url)
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 3")

        # Two articles state it: the later one first, each with its date; "on Thursday" dated from each.
        answer = ask(page, SHIP, 60)
        expect(answer).to_contain_text("2025-01-03: «")
        expect(answer).to_contain_text("2024-12-27: «")
        expect(answer.locator(".qa-reckoned").first).to_have_text("[2025-01-02]")
        later = page.locator('#qa-sources .qa-latest .qa-cited[data-source="later.txt"]')
        expect(later.locator(".qa-meta")).to_contain_text("2025-01-03")
        expect(later.locator(".qa-extra").last).to_contain_text(f"also published: {copy} (2025-01-04)")
        page.wait_for_timeout(500)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

        # Published until the end of 2024: only the first article is searched (the undated PDF neither).
        page.locator("#qa-filters").get_by_text("Filters").first.click()
        page.locator("#qa-until textarea, #qa-until input").first.fill("2024-12-31")
        answer = ask(page, SHIP, 60)
        expect(answer).not_to_contain_text("2025-01-03")
        cited = page.locator("#qa-sources .qa-latest .qa-src")
        assert {cited.nth(i).get_attribute("data-source") for i in range(cited.count())} == {"first.txt"}

        # A bad date is refused with the reason, before anything is searched.
        page.locator("#qa-until textarea, #qa-until input").first.fill("2024-13")
        page.locator("#qa-question textarea").fill(COST)
        page.locator("#qa-question textarea").press("Enter")
        expect(page.locator(".toast-body").first).to_contain_text("2024-13")

        # Only the PDF: its quote names page 3.
        page.locator("#qa-until textarea, #qa-until input").first.fill("")
        page.locator("#qa-only-sources input").click()
        page.get_by_role("option", name="report.pdf").click()
        answer = ask(page, COST, 60)
        expect(answer).to_contain_text("12 million euros")
        pdf = page.locator('#qa-sources .qa-latest .qa-cited[data-source="report.pdf"]').first
        expect(pdf.locator(".qa-meta")).to_contain_text("p. 3")

        # The Articles tab lists the copy beside the article it copies.
        page.get_by_role("tab", name="Articles").click()
        expect(page.locator("#qa-articles")).to_contain_text(copy)
