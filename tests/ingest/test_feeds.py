"""ingest/feeds.py: a feed's new entries ingested as pages (or as their summary, marked), dated, bounded, and
only new ones on the next run; served by the local test site on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from ingest.__main__ import main as ingest_main
from ingest.feeds import FeedState, entries, entry_article, read_feed_list
from ingest.fetch import Fetcher
from ingest.sync import sync
from qa.errors import FileRejected, InputError
from qa.store import open_store
from tests.ingest.site import Site


@pytest.fixture
def fetcher():
    with Fetcher(timeout=2, rate=1000) as f:
        yield f


def test_a_feed_lists_its_entries_with_dates_and_plain_summaries(site, fetcher):
    found = entries(fetcher, f"{site}/feed.xml")
    assert [e.id for e in found] == ["cable-1", "genova-1", "ferry-1", "empty-1"]
    assert [e.date for e in found] == ["2024-11-20", "2024-11-19", "2024-11-18", "2024-11-17"]
    assert found[2].summary.startswith("The ferry workers' union called off") and "<p>" not in found[2].summary


def test_the_entry_date_dates_a_page_that_states_none(site, fetcher):
    genova = entries(fetcher, f"{site}/feed.xml")[1]
    a = entry_article(fetcher, genova)
    assert (a.date, a.date_precision, a.date_origin) == ("2024-11-19", "day", "feed")
    assert a.feed == f"{site}/feed.xml" and not a.from_summary and a.lang == "it"


def test_the_page_metadata_wins_over_the_entry_date(site, fetcher):
    cable = entries(fetcher, f"{site}/feed.xml")[0]
    assert entry_article(fetcher, cable).date_origin == "html-metadata"


def test_an_unfetchable_page_falls_back_to_the_summary_marked_so(site, fetcher):
    ferry, empty = entries(fetcher, f"{site}/feed.xml")[2:]
    a = entry_article(fetcher, ferry)
    assert a.from_summary and a.text.startswith("The ferry workers' union") and a.source == f"{site}/gone-page"
    assert a.date_origin == "feed"
    with pytest.raises(FileRejected) as e:
        entry_article(fetcher, empty)
    assert e.value.reason == (
        "the server answered HTTP 404 Not Found; check the URL; the feed gives no summary to use instead"
    )


@pytest.mark.parametrize(
    "path, message",
    [
        ("/not-a-feed", "this is not an RSS or Atom feed; pass the feed's address"),
        ("/missing", "the server answered HTTP 404 Not Found; check the URL"),
    ],
    ids=["html-page", "404"],
)
def test_bad_feeds(site, fetcher, path, message):
    with pytest.raises(FileRejected) as e:
        entries(fetcher, site + path)
    assert message in e.value.reason


def test_new_entries_only_at_most_n_per_run(site, tmp_path, embedder, make_config, snapshot):
    config = make_config(tmp_path / "store", feed_max_entries=2)
    store = open_store(config, embedder.name, embedder.dim, create=True)
    feed = f"{site}/feed.xml"
    with Fetcher(timeout=2, rate=1000) as f:
        first = sync([], store, embedder, config, progress=False, feeds=[feed], fetcher=f)
        assert (first.added, first.failed) == (2, [])
        second = sync([], store, embedder, config, progress=False, feeds=[feed], fetcher=f)
        assert second.added == 1 and [x.path for x in second.failed] == [f"{site}/also-gone"]
        rows = snapshot(store)
        third = sync([], store, embedder, config, progress=False, feeds=[feed], fetcher=f)
    assert (third.added, third.skipped, third.failed) == (0, 0, [])
    assert snapshot(store) == rows
    by_source = {m["source"]: m for _, m in rows.values()}
    assert by_source[f"{site}/gone-page"]["from_summary"] is True
    assert "from_summary" not in by_source[f"{site}/news/cable.html"]
    assert {m["feed"] for m in by_source.values()} == {feed}
    state = json.loads((tmp_path / "store" / "feeds-articles.json").read_text())
    assert state == {feed: ["cable-1", "genova-1", "ferry-1", "empty-1"]}


def test_a_damaged_state_file_makes_every_entry_new(tmp_path, caplog):
    path = tmp_path / "feeds.json"
    path.write_text("{not json")
    assert FeedState(path).new("f", [], 5) == [] and "unreadable" in caplog.text


def test_the_cli_reads_feeds_from_a_file(site, tmp_path, qa_env, capsys):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# my feeds\n\n{site}/feed.xml\n{site}/not-a-feed\n")
    assert read_feed_list(feeds) == [f"{site}/feed.xml", f"{site}/not-a-feed"]
    qa_env.setenv("QA_FEED_MAX", "1")
    assert ingest_main(["--feeds", str(feeds), "--store", str(tmp_path / "store"), "--json"]) == 3
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["added"] == 1 and [f["path"] for f in report["failed"]] == [f"{site}/not-a-feed"]
    assert Site.log[-1][1]["User-Agent"].startswith("qa-ingest/")


def test_a_missing_feeds_file_stops_before_anything(tmp_path, qa_env, capsys):
    assert ingest_main(["--feeds", str(tmp_path / "nope.txt"), "--store", str(tmp_path / "store")]) == 1
    assert "nope.txt: no such file (--feeds wants a text file with one feed URL a line)" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
    with pytest.raises(InputError):
        read_feed_list(tmp_path)
