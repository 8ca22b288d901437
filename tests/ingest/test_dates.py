"""ingest/dates.py and the dates ingest stores: where a date is found, its precision, its origin, date_int."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.dates import dateline, find_date
from ingest.load import load
from ingest.sync import sync
from qa.config import BUNDLED_ARTICLES
from qa.store import open_store

FIXTURES = Path(__file__).parent / "fixtures" / "dated"
TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    "text, iso",
    [
        ("KYIV, Nov. 21, 2024 (Reuters) - Ukraine said on Thursday...", "2024-11-21"),
        ("WASHINGTON, November 3, 2024 — The vote count continued.", "2024-11-03"),
        ("Monday, March 4, 2024\n\nThe council met.", "2024-03-04"),
        ("PARIS, 21 novembre 2024 — Le gouvernement a annoncé...", "2024-11-21"),
        ("BERLIN, 5. Dezember 2024 - Die Regierung hat...", "2024-12-05"),
        ("ROMA, 2 febbraio 2025 - Il governo ha approvato...", "2025-02-02"),
        ("MADRID, 7 de enero de 2025 - El Gobierno aprobó...", "2025-01-07"),
        ("Tiranë, 12 nëntor 2024 - Qeveria miratoi...", "2024-11-12"),
        ("Storm hits the coast\n\nLONDON, 2024-10-09 - Winds of 120 km/h...", "2024-10-09"),
    ],
    ids=["en-abbrev", "en-full", "weekday", "fr", "de", "it", "es", "sq", "after-headline"],
)
def test_datelines_in_several_languages(text, iso):
    d = dateline(text, TODAY)
    assert d is not None and (d.iso, d.precision, d.origin) == (iso, "day", "dateline")


@pytest.mark.parametrize(
    "text",
    [
        "The treaty of 12 May 1999 was signed in Rome, and the ministers met again on Thursday.",  # deep in a sentence
        "The ministers met again on Thursday to discuss the budget of the coming year.",
        "KYIV, Nov. 31, 2024 - no such day",
        "BERLIN, 5. Dezember 2031 - a date after today is no publication date",
        "ROME, 5 May 1850 - before 1900",
    ],
    ids=["in-a-sentence", "none", "impossible", "future", "too-old"],
)
def test_no_dateline(text):
    assert dateline(text, TODAY) is None


def test_metadata_wins_then_the_date_line_then_a_dateline():
    text = "date 2024-11 PARIS, 21 novembre 2024 — Le gouvernement a annoncé un plan."
    assert find_date(text, "2024-11-20", TODAY).origin == "html-metadata"
    line = find_date(text, None, TODAY)
    assert (line.iso, line.precision, line.origin, line.day_number) == ("2024-11", "month", "date-line", 20241101)
    assert find_date(text, "not a date", TODAY).origin == "date-line"  # unusable metadata is ignored


@pytest.mark.parametrize(
    "name, iso, precision, origin",
    [
        ("month_line.txt", "2024-11", "month", "date-line"),
        ("paris_dateline.txt", "2024-11-21", "day", "dateline"),
        ("meta_date.html", "2025-03-02", "day", "html-metadata"),
        ("undated.txt", None, None, None),
    ],
)
def test_every_loaded_article_carries_its_date_precision_and_origin(name, iso, precision, origin):
    a = load(FIXTURES / name, 5_000_000)
    assert (a.date, a.date_precision, a.date_origin) == (iso, precision, origin)


def test_the_bundled_articles_get_no_invented_date():
    dates = {p.name[:3]: load(p, 5_000_000).date for p in sorted(BUNDLED_ARTICLES.glob("*.txt"))}
    assert sum(d is not None for d in dates.values()) <= 1  # only 003 has a "date 2024-11" line


def test_stored_metadata_has_date_int_precision_origin_and_ingestion_time(tmp_path, embedder, make_config, snapshot):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    r = sync([FIXTURES], store, embedder, config, progress=False)
    assert not r.failed and r.added == 4
    by_source = {m["source"]: m for _, m in snapshot(store).values()}
    assert {s: m.get("date_int") for s, m in by_source.items()} == {
        "month_line.txt": 20241101,
        "paris_dateline.txt": 20241121,
        "meta_date.html": 20250302,
        "undated.txt": None,
    }
    month = by_source["month_line.txt"]
    assert (month["date"], month["date_precision"], month["date_origin"]) == ("2024-11", "month", "date-line")
    assert "date_precision" not in by_source["undated.txt"]
    assert all(m["ingested_at"].startswith(str(date.today().year)) for m in by_source.values())
    before = snapshot(store)
    assert sync([FIXTURES], store, embedder, config, progress=False).skipped == 4
    assert snapshot(store) == before  # re-ingesting writes nothing, not even a new ingestion time
