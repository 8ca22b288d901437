"""Trust at a glance in a real browser, against ``python app.py --llm none``: every bundled article is named by
its title or the first words of its lead (never by its file name), sources that disagree are said in words in
the question's language (English and German) with their article's name, and each answer shows how sure it is
in words and a colour, with the calibrated figure on hover; an uncertain answer says so before its quote.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.qa.web.test_browser import (  # noqa: F401
    CHROMIUM,
    ask,
    browser,
    screenshot_on_failure,
    serve,
    store,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

FILE_NAME = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
DOCS = Path(__file__).resolve().parents[3] / "docs"  # fresh screenshots for the README, one per language
DEMO_AR = "أين يجتمع القادة الأوروبيون يوم الخميس لمناقشة المساعدات لأوكرانيا؟"
DEMO_SQ = "Ku takohen liderët evropianë të enjten për të diskutuar ndihmën për Ukrainën?"
TROOPS_EN = "How many North Korean troops has North Korea sent to Russia?"
DEATHS_DE = "Wie viele nordkoreanische Soldaten sind im Krieg gegen die Ukraine gestorben?"
TROOPS_DE = "Wie viele nordkoreanische Soldaten sind laut den USA in Russland?"


def test_labels_disagreement_and_confidence_in_a_real_browser(store, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    log = tmp_path / "server.log"
    with serve(store, "none", log) as url, browser() as page, screenshot_on_failure(page, "trust", log):
        page.goto(url)
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")

        english = ask(page, TROOPS_EN, 60)
        expect(english).to_contain_text("Other sources give other figures:")
        badge = english.locator(".qa-confidence")
        expect(badge).to_have_count(1)
        title = badge.get_attribute("title") or ""
        assert re.fullmatch(r"confidence [01]\.\d\d", title), title  # the calibrated figure, on hover
        figure = float(title.split()[1])
        # The selector's first choice here is a headline, not a figure: uncertain, in the badge and before the quote.
        assert figure < 0.5
        expect(badge).to_have_class(re.compile("qa-uncertain"))
        expect(badge).to_contain_text("Uncertain: this quote may not answer the question")
        assert english.locator(".qa-text").inner_text().startswith("Uncertain: «")
        page.screenshot(path=str(DOCS / "screenshot-trust-en.png"))

        german = ask(page, DEATHS_DE, 60)
        sure = german.locator(".qa-confidence")
        expect(sure).to_have_class(re.compile("qa-likely"))
        expect(sure).to_contain_text("Wahrscheinlich richtig")
        assert not german.locator(".qa-text").inner_text().startswith("Unsicher")
        # No other source counts the dead: no line of differing figures (another figure of the story is not one).
        assert "Andere Quellen" not in german.locator(".qa-text").inner_text()
        differing = ask(page, TROOPS_DE, 60)
        expect(differing).to_contain_text("Andere Quellen nennen andere Zahlen:")
        assert all("≠" not in a.inner_text() for a in (english, german, differing))

        # The demo question in Arabic and in Albanian: the Paris meeting, named by the Albanian article's lead.
        for question, lang, badge_words in (
            (DEMO_AR, "ar", ("على الأرجح صحيح", "غير مؤكد")),
            (DEMO_SQ, "sq", ("Ka gjasë", "E pasigurt")),
        ):
            answer = ask(page, question, 60)
            expect(answer).to_contain_text("Paris")
            assert any(w in answer.locator(".qa-confidence").inner_text() for w in badge_words)
            page.screenshot(path=str(DOCS / f"screenshot-trust-{lang}.png"))

        # Every cited or listed article is named by its title or its lead, the file name only beside it.
        names = page.locator("#qa-sources .qa-title").all_inner_texts()
        assert names and not [n for n in names if FILE_NAME.match(n.strip())], names
        assert "Korea e Veriut thuhet se ka dërguar" in " ".join(names)  # an article with no headline line

        # The Articles tab: the first column names each article, never by its file name.
        page.get_by_role("tab", name="Articles").click()
        table = page.locator("#qa-articles")
        expect(table).to_contain_text("Korea e Veriut thuhet se ka dërguar")
        expect(table).to_contain_text("Ministrja e Jashtme e Koresë së Veriut Choe Son Hui")
        rows = [r.locator("[role=gridcell]").all_inner_texts() for r in table.locator(".virtual-row[role=row]").all()]
        named = [r for r in rows if len(r) > 1 and FILE_NAME.match(r[1].strip())]
        assert len(named) == 5 and not [r for r in named if FILE_NAME.match(r[0].strip())], rows
