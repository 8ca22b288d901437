"""A conversation in a real browser, against ``python app.py --llm none``: after an on-topic question, an unrelated
question is answered exactly as if asked alone, an off-topic one is refused, and an elliptical follow-up is
searched with the question it follows ("Searched for: …", in the follow-up's language), and that is saved with
the conversation.
"""

from __future__ import annotations

import httpx
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

ON_TOPIC = "How many people did the Russian missile attack on Dnipro kill, according to the regional governor?"
UNRELATED = "Which US envoy does Zelenskyy say is heading to Kyiv?"
OFF_TOPIC = "Who won the 2022 World Cup?"
FOLLOW_UP = "E quanti sono stati feriti?"


def test_a_follow_up_uses_the_previous_question_a_new_one_stands_alone_an_off_topic_one_is_refused(store, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    log = tmp_path / "server.log"
    with serve(store, "none", log) as url, browser() as page, screenshot_on_failure(page, "followups", log):
        page.goto(url)
        expect(page.locator("#qa-store-status")).to_contain_text("Articles: 5")
        alone = httpx.post(f"{url}/api/ask", json={"question": UNRELATED}, timeout=60).json()

        first = ask(page, ON_TOPIC, 60)
        expect(first).to_contain_text("three people were killed")
        expect(first.locator(".qa-rewritten")).to_have_count(0)

        # An elliptical follow-up, in Italian: searched with the question before it, said so in Italian.
        follow_up = ask(page, FOLLOW_UP, 60)
        expect(follow_up.locator(".qa-rewritten")).to_have_text(f"Cercato: {ON_TOPIC} {FOLLOW_UP}")
        expect(follow_up).to_contain_text("Dnipro")

        # A new question on another story: exactly the answer it gets alone.
        unrelated = ask(page, UNRELATED, 60)
        expect(unrelated).to_contain_text("Kellogg")
        expect(unrelated.locator(".qa-rewritten")).to_have_count(0)
        assert alone["citations"] and alone["citations"][0]["quote"] in unrelated.inner_text()

        # A question the articles do not answer: refused, whatever came before it.
        off_topic = ask(page, OFF_TOPIC, 60)
        expect(off_topic).to_contain_text("The articles do not say.")
        expect(off_topic.locator(".qa-rewritten")).to_have_count(0)
        expect(off_topic.locator("a.qa-cite")).to_have_count(0)

        conversations = httpx.get(f"{url}/api/conversations", timeout=30).json()["conversations"]
        saved = httpx.get(f"{url}/api/conversations/{conversations[0]['id']}", timeout=30).json()
        answers = [t["answer"] for t in saved["turns"]]
        assert [a["rewritten"] for a in answers] == [None, f"{ON_TOPIC} {FOLLOW_UP}", None, None]
