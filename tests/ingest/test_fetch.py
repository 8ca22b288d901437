"""ingest/fetch.py and URL ingest, against a local HTTP server on 127.0.0.1 started here (nothing else is
contacted): what a page becomes, what is refused and why, robots.txt, rate limits, unchanged pages."""

from __future__ import annotations

import json
import logging

import pytest

from ingest.__main__ import main as ingest_main
from ingest.fetch import USER_AGENT, Fetcher, fetch_article, redact
from ingest.sync import sync
from qa.errors import FileRejected
from qa.process import free_port
from qa.store import open_store
from tests.ingest.site import WEB, Site


@pytest.fixture
def fetcher():
    with Fetcher(timeout=0.5, rate=1000, max_bytes=200_000) as f:
        yield f


def test_a_news_page_becomes_an_article_with_its_metadata(site, fetcher):
    url = f"{site}/news/cable.html"
    a = fetch_article(fetcher, url)
    assert (a.source, a.path, a.site) == (url, url, "127.0.0.1")
    assert a.text.startswith("Second Baltic cable damaged\nFinland and Sweden reported a second damaged undersea cable")
    assert "Home" not in a.text and "©" not in a.text
    assert a.title == "Second Baltic cable damaged"
    assert (a.author, a.site_name, a.url) == (
        "Anna Virtanen",
        "Northern Wire",
        "https://northern-wire.example/2024/11/baltic-cable",
    )
    assert (a.date, a.date_precision, a.date_origin) == ("2024-11-20", "day", "html-metadata")
    assert a.lang == "en" and a.etag
    assert Site.log[-1][1]["User-Agent"] == USER_AGENT


def test_a_redirect_is_followed(site, fetcher):
    assert "Finland and Sweden" in fetch_article(fetcher, f"{site}/moved").text


@pytest.mark.parametrize(
    "path, message",
    [
        ("/missing", "the server answered HTTP 404 Not Found; check the URL"),
        ("/broken", "the server answered HTTP 500 Internal Server Error; the site has a problem; try again later"),
        ("/loop", "the page redirects more than 5 times (a redirect loop?); open it in a browser to check"),
        ("/slow", "the server did not answer within 0.5 s (raise QA_FETCH_TIMEOUT to wait longer)"),
        ("/data.json", "the URL serves application/json, not an HTML page or a PDF; link to the article itself"),
        ("/big", "the page is 0.3 MB, over the 0.2 MB limit (raise QA_MAX_FILE_MB to allow it)"),
        ("/big-unannounced", "the page is larger than 0.2 MB, over the 0.2 MB limit (raise QA_MAX_FILE_MB"),
        ("/empty", "the page is empty"),
        ("/scripts", "no article text found in this HTML page (only scripts, menus or markup)"),
        ("/private/page.html", "robots.txt of this site does not allow fetching this page; it is skipped"),
    ],
    ids=[
        "404",
        "500",
        "redirect-loop",
        "timeout",
        "not-html",
        "oversize",
        "oversize-unannounced",
        "empty",
        "no-text",
        "robots",
    ],
)
def test_bad_pages_are_refused_with_a_reason(site, fetcher, path, message):
    with pytest.raises(FileRejected) as e:
        fetch_article(fetcher, site + path)
    assert e.value.path == site + path and message in e.value.reason


def test_an_unreachable_host(fetcher):
    url = f"http://127.0.0.1:{free_port()}/news.html"
    with pytest.raises(FileRejected) as e:
        fetch_article(fetcher, url)
    assert "cannot reach the server (" in e.value.reason and "check the URL and the network" in e.value.reason


@pytest.mark.parametrize(
    "url, message",
    [
        ("file:///etc/passwd", "only http:// and https:// URLs can be fetched, not file://; to ingest a file"),
        ("ftp://127.0.0.1/news.html", "only http:// and https:// URLs can be fetched, not ftp://"),
        ("http://", "the URL names no host; write it as https://example.org/page"),
    ],
    ids=["file", "ftp", "no-host"],
)
def test_urls_that_are_not_fetched_at_all(fetcher, url, message):
    before = len(Site.log)
    with pytest.raises(FileRejected) as e:
        fetch_article(fetcher, url)
    assert message in e.value.reason and len(Site.log) == before


def test_credentials_in_a_url_are_refused_and_never_shown_or_logged(site, fetcher, caplog):
    caplog.set_level(logging.DEBUG)
    url = site.replace("http://", "http://reader:s3cret-pw@") + "/news/cable.html"
    before = len(Site.log)
    with pytest.raises(FileRejected) as e:
        fetch_article(fetcher, url)
    assert e.value.reason.startswith("the URL contains a user name or password; remove them")
    assert "s3cret" not in str(e.value) and "reader" not in str(e.value) and "s3cret" not in caplog.text
    assert e.value.path == redact(url) == site.replace("http://", "http://***@") + "/news/cable.html"
    assert len(Site.log) == before  # nothing was sent


def test_requests_to_one_host_are_spaced_by_the_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 3))
        now[0] += s

    f = Fetcher(rate=2.0, clock=lambda: now[0], sleep=sleep)
    for url in ("http://a.example/1", "http://a.example/2", "http://b.example/1", "http://a.example/3"):
        f._wait(url)
        now[0] += 0.1  # each request takes 0.1 s
    assert slept == [0.4, 0.3]  # a.example's second and third request; b.example waits for nobody
    f.close()


def test_robots_txt_is_read_once_per_host(site):
    with Fetcher(timeout=2, rate=1000) as f:
        start = len(Site.log)
        fetch_article(f, f"{site}/news/cable.html")
        with pytest.raises(FileRejected):
            fetch_article(f, f"{site}/private/page.html")
        asked = [p for p, _, _ in Site.log[start:]]
    assert asked == ["/robots.txt", "/news/cable.html"]


def test_urls_are_ingested_with_files_and_unchanged_pages_are_not_downloaded_again(
    site, tmp_path, embedder, make_config, snapshot
):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    good, bad = f"{site}/news/cable.html", f"{site}/missing"
    with Fetcher(timeout=2, rate=1000) as f:
        r = sync([], store, embedder, config, progress=False, urls=[good, bad], fetcher=f)
        assert (r.added, [x.path for x in r.failed]) == (1, [bad])
        rows = snapshot(store)
        meta = next(iter(rows.values()))[1]
        assert (meta["source"], meta["path"], meta["site"], meta["date_int"]) == (good, good, "127.0.0.1", 20241120)
        assert meta["url"] == "https://northern-wire.example/2024/11/baltic-cable" and meta["etag"]
        again = sync([], store, embedder, config, progress=False, urls=[good], fetcher=f, prune=True)
    assert (again.added, again.skipped, again.deleted) == (0, 1, 0)  # --prune keeps pages: they are no files
    assert Site.log[-1][1].get("If-None-Match") == meta["etag"] and Site.log[-1][2] == 304
    assert snapshot(store) == rows


def test_the_cli_takes_urls_and_paths_together(site, tmp_path, qa_env, capsys):
    store = tmp_path / "store"
    page = WEB.parent / "dated" / "undated.txt"
    urls = [f"{site}/news/cable.html", f"{site}/data.json", "file:///etc/passwd"]
    assert ingest_main([*urls, str(page), "--store", str(store), "--json"]) == 3
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["added"] == 2
    assert [f["path"] for f in report["failed"]] == urls[1:]
    assert f"ingest: skipped {urls[1]}: the URL serves application/json, not an HTML page or a PDF" in out.err
