"""qa.web.render: the page's HTML (escaping, quote highlighting, links to sources, right-to-left text)."""

from __future__ import annotations

import html as html_lib
import re

from qa.export import answer_markdown
from qa.types import Answer, AnswerMode, Citation, Passage
from qa.web.render import (
    answer_footer,
    highlight,
    lang_attr,
    quote_spans,
    render_answer,
    render_draft,
    render_error,
    render_panel,
    render_pending,
    render_sources,
    render_user,
)

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
ARTICLE = "Intro line.\n\nLeaders will meet on Thursday in Paris to discuss aid. Other news follows."


def passage(text: str = ARTICLE, start: int = 0, lang: str | None = "en", **kw) -> Passage:
    return Passage(
        id="p",
        source=kw.pop("source", "a.txt"),
        path="/x/a.txt",
        text=text,
        start=start,
        end=start + len(text),
        title=kw.pop("title", "A title"),
        date=kw.pop("date", "2025-03-01"),
        lang=lang,
        score=0.9,
        **kw,
    )


def citation(p: Passage, quote: str, n: int = 1, verified: bool = True, offset: int | None = None) -> Citation:
    at = p.text.find(quote) if offset is None else offset
    return Citation(
        n=n,
        source=p.source,
        quote=quote,
        start=p.start + at,
        end=p.start + at + len(quote),
        verified=verified,
        title=p.title,
        date=p.date,
        lang=p.lang,
    )


def answer(text="In Paris [1].", passages=None, citations=None, **kw) -> Answer:
    passages = passages if passages is not None else [passage(start=100)]
    if citations is None:
        citations = [citation(passages[0], "Leaders will meet on Thursday in Paris")]
    return Answer(
        question=kw.pop("question", "Where do leaders meet?"),
        text=text,
        refused=kw.pop("refused", False),
        mode=kw.pop("mode", AnswerMode.LLM),
        citations=citations,
        passages=passages,
        timings={"total_s": 2.34},
        **kw,
    )


# --- escaping -----------------------------------------------------------------------------------------


def test_nothing_from_an_article_renders_as_html():
    p = passage(
        text=f"Title {EVIL}\n\nLeaders will meet in Paris {EVIL}.",
        title=EVIL,
        source=f"{EVIL}.txt",
        date=EVIL,
        lang='en" onclick="x',
    )
    a = answer(
        text=f"Paris {EVIL} [1]",
        passages=[p],
        citations=[citation(p, f"Paris {EVIL}")],
        rewritten=EVIL,
        note=EVIL,
        question=EVIL,
    )
    for out in (
        render_answer(a, 1),
        render_sources(a, 1),
        render_panel([(EVIL, "")]),
        render_user(EVIL),
        render_draft(EVIL),
        render_error(EVIL),
        render_pending(EVIL),
    ):
        assert "<img" not in out and "<script" not in out and 'onerror="' not in out
        assert 'onclick="' not in out
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in render_sources(a, 1)


def test_lang_attribute_only_for_plausible_codes():
    assert lang_attr("ar") == ' lang="ar"'
    assert lang_attr("pt-BR") == ' lang="pt-BR"'
    assert lang_attr('en" x="') == ""
    assert lang_attr(None) == ""


# --- the answer bubble --------------------------------------------------------------------------------


def test_markers_link_to_their_source_of_this_turn():
    a = answer(text="Paris [1], maybe [2] and [7].", passages=[passage(), passage()])
    html = render_answer(a, 3)
    assert '<a class="qa-cite" href="#src-3-1" title="A title">[1]</a>' in html
    assert 'href="#src-3-2"' in html
    assert "[7]" in html and 'href="#src-3-7"' not in html  # no passage 7: left as text


def test_refusal_extractive_and_rewritten_are_labelled():
    refused = render_answer(
        answer(text="The articles do not say.", refused=True, citations=[], note="no passage is close enough"), 1
    )
    assert "qa-refused" in refused and "Not answered" in refused and "related passages" in refused
    assert "no passage is close enough" in refused
    extractive = render_answer(answer(text="«Leaders will meet» [1]", mode=AnswerMode.EXTRACTIVE), 1)
    assert "qa-extractive" in extractive and "Extractive answer" in extractive
    plain = render_answer(answer(), 1)
    assert "Extractive" not in plain and "Not answered" not in plain and "Searched for" not in plain
    follow = render_answer(answer(question="e quanti?", rewritten="How many were killed? e quanti?"), 1)
    assert 'Searched for: <q dir="auto">How many were killed? e quanti?</q>' in follow


def test_footer_counts_cited_sources_dropped_sentences_and_time():
    a = answer(dropped=1)
    assert answer_footer(a) == "1 source cited · 1 unsupported sentence removed · 2.3 s"


def test_answer_text_direction_follows_its_script():
    assert '<div class="qa-text" dir="auto">' in render_answer(answer(text="في باريس [1]"), 1)


# --- the sources panel --------------------------------------------------------------------------------


def test_quote_is_highlighted_at_its_offsets_inside_the_passage():
    p = passage(start=1000)
    html = render_sources(answer(passages=[p]), 1)
    assert '<mark class="qa-quote">Leaders will meet on Thursday in Paris</mark>' in html
    assert 'id="src-1-1" data-source="a.txt" open>' in html


def test_quote_spans_use_article_offsets_and_fall_back_to_searching():
    p = passage(start=500)
    good = citation(p, "Thursday")
    moved = Citation(n=1, source="a.txt", quote="Paris", start=0, end=5, verified=True)  # stale offsets
    missing = Citation(n=1, source="a.txt", quote="not in there", start=0, end=12, verified=True)
    spans, unplaced = quote_spans(p.text, p.start, [good, moved, missing])
    assert [p.text[s:e] for s, e, _ in spans] == ["Thursday", "Paris"]
    assert unplaced == [missing]


def test_overlapping_quotes_merge_and_unverified_ones_are_marked():
    p = passage()
    spans, _ = quote_spans(
        p.text, 0, [citation(p, "meet on Thursday"), citation(p, "Thursday in Paris", verified=False)]
    )
    assert spans == [(p.text.find("meet"), p.text.find("Paris") + 5, False)]
    assert 'class="qa-quote qa-unverified"' in highlight(p.text, spans)


def test_cited_passages_come_first_and_the_others_are_folded():
    ps = [passage(text="Nothing relevant here at all."), passage(start=100)]
    a = answer(text="In Paris [2].", passages=ps, citations=[citation(ps[1], "in Paris", n=2)])
    html = render_sources(a, 1)
    assert html.index('id="src-1-2"') < html.index("Also retrieved, not cited") < html.index('id="src-1-1"')
    assert 'id="src-1-1" data-source="a.txt">' in html  # closed


def test_refusal_still_lists_related_passages():
    a = answer(text="The articles do not say.", refused=True, citations=[], passages=[passage(), passage()])
    html = render_sources(a, 1)
    assert "closest ones" in html and html.count('class="qa-src"') == 2


def test_arabic_passages_render_right_to_left():
    p = passage(text="قال كيم إن الجيش سيدعم روسيا.", lang="ar", title=None, source="000.txt")
    html = render_sources(answer(text="نعم [1]", passages=[p], citations=[citation(p, "سيدعم روسيا")]), 1)
    assert '<div class="qa-passage" dir="rtl" lang="ar">' in html
    assert (
        '<span class="qa-title" dir="auto">000.txt</span> <span class="qa-meta" dir="ltr">2025-03-01 · ar</span>'
        in html
    )


def test_leading_blank_lines_are_trimmed_without_moving_the_highlight():
    p = passage(text="\n\n  Leaders meet in Paris.", start=50)
    html = render_sources(answer(passages=[p], citations=[citation(p, "Paris")]), 1)
    assert 'lang="en">Leaders meet in <mark class="qa-quote">Paris</mark>.</div>' in html


def test_panel_shows_newest_turn_open_and_older_ones_folded():
    html = render_panel([("first?", "<p>one</p>"), ("second?", "<p>two</p>")])
    assert html.index("second?") < html.index("first?")
    assert '<section class="qa-turn qa-latest" id="turn-2">' in html
    assert '<details class="qa-turn" id="turn-1">' in html
    assert "Ask a question" in render_panel([])


def test_each_answer_carries_a_copy_button_beside_its_markdown_escaped():
    p = passage()
    a = answer(text='Paris <b>"x"</b> [1]', passages=[p], citations=[citation(p, "Paris")])
    out = render_answer(a, 1)
    m = re.search(r'<div class="qa-md">([^<]*)</div><button type="button" class="qa-copy"', out)
    assert m, out
    assert html_lib.unescape(m.group(1)) == answer_markdown(a)
    assert "<b>" not in out
