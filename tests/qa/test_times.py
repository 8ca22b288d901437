"""qa/times.py: a quote's relative times resolved from the article's date, in several languages; absolute dates,
stray figures and dates finer than the article's own left alone."""

from __future__ import annotations

import pytest

from qa.times import annotate, relative_times


@pytest.mark.parametrize(
    "quote, published, lang, shown",
    [
        (
            "Finland's coast guard boarded an oil tanker on Thursday after a power cable was damaged.",
            "2024-12-27",
            "en",
            "Finland's coast guard boarded an oil tanker on Thursday [2024-12-26] after a power cable was damaged.",
        ),
        (
            "Prices rose 12 percent last month and 3 percent in the year to 21 November 2024.",
            "2024-12-05",
            "en",
            "Prices rose 12 percent last month [2024-11] and 3 percent in the year to 21 November 2024.",
        ),
        (
            "La garde côtière a arraisonné jeudi un pétrolier.",
            "2024-12-27",
            "fr",
            "La garde côtière a arraisonné jeudi [2024-12-26] un pétrolier.",
        ),
        (
            "Am Donnerstag wurde das Schiff gestoppt; gestern sprach der Minister.",
            "2024-12-27",
            "de",
            "Am Donnerstag [2024-12-26] wurde das Schiff gestoppt; gestern [2024-12-26] sprach der Minister.",
        ),
        (
            "Il ministro ha detto ieri che 12 milioni saranno stanziati il mese prossimo.",
            "2024-12-27",
            "it",
            "Il ministro ha detto ieri [2024-12-26] che 12 milioni saranno stanziati il mese prossimo [2025-01].",
        ),
        (
            "Floods forced 12,000 people to leave their homes, the governor said on Sunday; last week 300 left.",
            "2025-05-11",
            "en",
            "Floods forced 12,000 people to leave their homes, the governor said on Sunday [2025-05-11]; last week "
            "[2025-05-04] 300 left.",
        ),
        (
            "Le gouverneur a parlé dimanche.",
            "2025-05-11",
            "fr",
            "Le gouverneur a parlé dimanche [2025-05-11].",
        ),
        (
            "قال الوزير يوم الخميس إن 12 سفينة تضررت",
            "2024-12-27",
            "ar",
            "قال الوزير يوم الخميس [2024-12-26] إن 12 سفينة تضررت",
        ),
    ],
)
def test_relative_times_get_the_date_they_mean(quote, published, lang, shown):
    times = relative_times(quote, published, lang)
    assert annotate(quote, times) == shown
    assert all(quote[t.start : t.end] == t.text for t in times)


@pytest.mark.parametrize(
    "quote, published",
    [
        ("The summit will take place in May 2025 and 2,000 people attend; the minister may resign.", "2024-12-27"),
        ("The treaty was signed on 21 November 2024 by 12 states.", "2024-12-27"),
        ("On Thursday the team met.", "2024-11"),  # a day cannot be reckoned from a month
        ("On Thursday the team met.", None),
        ("12 000 000", "2024-11-21"),
    ],
)
def test_absolute_dates_figures_and_undated_articles_are_left_alone(quote, published):
    assert relative_times(quote, published, "en") == ()


def test_an_unknown_language_or_a_bad_date_is_no_error():
    assert relative_times("Tirana njoftoi të hënën se 300 ushtarë do të dërgohen.", "2024-11-21", "xx") == ()
    assert relative_times("On Thursday the team met.", "2024-13-45", "en") == ()
