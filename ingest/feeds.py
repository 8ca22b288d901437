"""RSS and Atom feeds (``python -m ingest --feed URL`` / ``--feeds FILE``): each new entry's page, ingested.

A feed lists links; the article is the linked page, fetched like any URL (``ingest.fetch``). When the page cannot
be fetched, the entry's own summary stands in for it, marked ``from_summary`` so nobody mistakes it for the
article. The entries a feed has shown are remembered in a small JSON file beside the store, so the next run
reads only new ones; at most ``max_entries`` per feed and run, newest first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from ingest.fetch import Fetcher, fetch_article
from ingest.load import article
from ingest.state import beside_store, read_json, write_json
from qa.config import Config
from qa.errors import FileRejected, InputError
from qa.types import Article

log = logging.getLogger(__name__)

FEED_TYPES = None  # feeds come as application/rss+xml, atom+xml, xml, text/xml, even text/plain: feedparser judges
REMEMBERED = 2000  # entry ids kept per feed: far more than any feed lists at once


@dataclass(frozen=True)
class Entry:
    """One feed item: the page it links to, its id (the link when the feed gives none), summary and date."""

    feed: str
    id: str
    link: str
    title: str | None
    summary: str
    date: str | None  # YYYY-MM-DD


def read_feed_list(path: Path) -> list[str]:
    """A ``--feeds`` file: one feed URL a line; blank lines and ``#`` comments ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (--feeds wants a text file with one feed URL a line)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it ({e}); --feeds wants a UTF-8 text file") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def entries(fetcher: Fetcher, url: str) -> list[Entry]:
    """Every entry of the feed at ``url`` that links to a page, as the feed orders them (newest first, usually)."""
    import feedparser

    page = fetcher.fetch(url, kinds=FEED_TYPES)
    parsed = feedparser.parse(page.body or b"")
    if not parsed.get("version") and not parsed.entries:
        raise FileRejected(url, "this is not an RSS or Atom feed; pass the feed's address (often …/rss or …/feed)")
    out = []
    for e in parsed.entries:
        link = e.get("link")
        if not link or not link.startswith(("http://", "https://")):
            continue
        when = e.get("published_parsed") or e.get("updated_parsed")
        out.append(
            Entry(
                feed=url,
                id=e.get("id") or link,
                link=link,
                title=e.get("title"),
                summary=_plain(e.get("summary", "")),
                date=time.strftime("%Y-%m-%d", when) if when else None,
            )
        )
    return out


def entry_article(fetcher: Fetcher, entry: Entry, previous: dict[str, Any] | None = None) -> Article | None:
    """The entry's page as an Article (None when unchanged since ``previous``); its summary when the page cannot
    be fetched or holds no article; :class:`FileRejected` when neither will do."""
    try:
        got = fetch_article(fetcher, entry.link, previous, feed_date=entry.date)
    except FileRejected as e:
        if not entry.summary.strip():
            raise FileRejected(entry.link, f"{e.reason}; the feed gives no summary to use instead") from None
        log.warning("%s: %s; ingesting the feed's summary instead", entry.link, e.reason)
        try:
            return article(
                entry.link,
                entry.link,
                entry.summary,
                entry.title,
                feed_date=entry.date,
                feed=entry.feed,
                from_summary=True,
            )
        except FileRejected:
            raise FileRejected(
                entry.link, f"{e.reason}; the feed's summary is too short to stand in for the article"
            ) from None
    return None if got is None else _with_feed(got, entry.feed)


def _with_feed(a: Article, feed: str) -> Article:
    return replace(a, feed=feed)


class FeedState:
    """The entry ids each feed has shown, in a JSON file beside the store (``ingest.state``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: dict[str, list[str]] = read_json(path)

    @classmethod
    def beside(cls, config: Config) -> FeedState:
        return cls(beside_store(config, "feeds", ".json"))

    def new(self, feed: str, found: list[Entry], limit: int) -> list[Entry]:
        seen = set(self._seen.get(feed, ()))
        return [e for e in found if e.id not in seen][:limit]

    def remember(self, feed: str, done: list[Entry]) -> None:
        ids = [e.id for e in done if e.id not in self._seen.get(feed, [])]
        self._seen[feed] = (self._seen.get(feed, []) + ids)[-REMEMBERED:]

    def save(self) -> None:
        write_json(self.path, self._seen)


def feed_sources(
    feeds: list[str], fetcher: Fetcher, state: FeedState, limit: int, stored: dict[str, dict[str, Any]]
) -> tuple[list[tuple[str, Callable[[], Article | None]]], list[FileRejected]]:
    """For each feed, its new entries (at most ``limit``) as loaders for ``ingest.sync``, and the feeds that
    failed. The entries are remembered in ``state`` (saved by the caller once they are stored)."""
    sources: list[tuple[str, Callable[[], Article | None]]] = []
    failed: list[FileRejected] = []
    for feed in feeds:
        try:
            fresh = state.new(feed, entries(fetcher, feed), limit)
        except FileRejected as e:
            failed.append(e)
            continue
        sources += [(e.link, partial(entry_article, fetcher, e, stored.get(e.link))) for e in fresh]
        state.remember(feed, fresh)
    return sources, failed


def _plain(html: str) -> str:
    """A summary's text without its markup (feeds often carry HTML in it)."""
    if "<" not in html:
        return html.strip()
    from lxml import etree
    from lxml import html as lxml_html

    try:
        return " ".join(lxml_html.fromstring(html).text_content().split())
    except (etree.ParserError, ValueError, TypeError):
        return html.strip()
