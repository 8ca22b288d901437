"""Fetch news pages the user names (``python -m ingest URL``) politely and defensively, into Articles.

Nothing is fetched unless a URL is given. Each request: http(s) only, no credentials in the URL, a User-Agent
that names the project, robots.txt obeyed, at most ``rate`` requests per second to one host, a timeout, a
bounded number of redirects, a size limit checked while reading, and an HTML content type. Every refusal is a
:class:`FileRejected` naming the URL (with any password removed) and what to do.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from ingest.load import decode, html_article, pdf_article
from qa.config import Config
from qa.errors import FileRejected
from qa.types import Article

log = logging.getLogger(__name__)

USER_AGENT = "qa-ingest/0.1 (offline question answering over news articles; fetches only pages its user names)"
MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
PDF_TYPE = "application/pdf"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(arg: str) -> bool:
    """Whether a command-line argument is meant as a URL (any scheme: ``file://`` is refused, not read as a path)."""
    return bool(_URL.match(arg))


def redact(url: str) -> str:
    """The URL without a user name or password, fit to show and log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> str:
    """The URL if it may be fetched; else :class:`FileRejected` saying why."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FileRejected(
            redact(url),
            f"only http:// and https:// URLs can be fetched, not {parts.scheme}://; "
            "to ingest a file on this computer, pass its path",
        )
    if parts.username is not None or parts.password is not None:
        raise FileRejected(
            redact(url),
            "the URL contains a user name or password; remove them (pages behind a login cannot be ingested)",
        )
    if not parts.hostname:
        raise FileRejected(url, "the URL names no host; write it as https://example.org/page")
    return url


@dataclass(frozen=True)
class Page:
    """One fetched page: ``body`` None when the server said it is unchanged (HTTP 304)."""

    url: str
    body: bytes | None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Fetcher:
    """One HTTP client for a run: robots.txt read once per host, requests to each host spaced ``1/rate`` s."""

    timeout: float = 20.0
    rate: float = 1.0  # requests per second per host
    max_bytes: int = 5_000_000
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _client: httpx.Client = field(init=False, repr=False)
    _robots: dict[str, RobotFileParser] = field(default_factory=dict, init=False, repr=False)
    _last: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(
            timeout=self.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # no proxies or .netrc credentials from the environment
        )

    @classmethod
    def from_config(cls, config: Config) -> Fetcher:
        return cls(timeout=config.fetch_timeout, rate=config.fetch_rate, max_bytes=int(config.max_file_mb * 1e6))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        kinds: tuple[str, ...] | None = HTML_TYPES,
    ) -> Page:
        """GET a page of one of these content ``kinds`` (None: any), or raise :class:`FileRejected` with the reason
        and what to do."""
        check_url(url)
        if not self._allowed(url):
            raise FileRejected(url, "robots.txt of this site does not allow fetching this page; it is skipped")
        headers = {"Accept": ",".join(kinds) if kinds else "*/*"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        r = self._get(url, headers)
        try:
            if r.status_code == 304:
                return Page(url, None, etag=etag, last_modified=last_modified)
            if r.status_code >= 400:
                hint = "check the URL" if r.status_code < 500 else "the site has a problem; try again later"
                raise FileRejected(url, f"the server answered HTTP {r.status_code} {r.reason_phrase}; {hint}")
            kind = r.headers.get("content-type", "").split(";")[0].strip().lower()
            if kinds and kind not in kinds:
                raise FileRejected(
                    url,
                    f"the URL serves {kind or 'an unknown content type'}, not an HTML page or a PDF; "
                    "link to the article itself",
                )
            body = self._read(url, r)
        finally:
            r.close()
        return Page(url, body, r.headers.get("content-type", ""), r.headers.get("etag"), r.headers.get("last-modified"))

    def _read(self, url: str, r: httpx.Response) -> bytes:
        limit = f"over the {self.max_bytes / 1e6:.3g} MB limit (raise QA_MAX_FILE_MB to allow it)"
        declared = r.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FileRejected(url, f"the page is {int(declared) / 1e6:.3g} MB, {limit}")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FileRejected(url, f"the page is larger than {self.max_bytes / 1e6:.3g} MB, {limit}")
                chunks.append(chunk)
        except httpx.HTTPError as e:
            raise FileRejected(url, _network_reason(e, self.timeout)) from None
        return b"".join(chunks)

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        self._wait(url)
        try:
            request = self._client.build_request("GET", url, headers=headers)
            return self._client.send(request, stream=True)
        except httpx.HTTPError as e:
            raise FileRejected(url, _network_reason(e, self.timeout)) from None

    def _wait(self, url: str) -> None:
        """Space requests to one host at least ``1/rate`` seconds apart."""
        host = urlsplit(url).netloc.lower()
        last = self._last.get(host)
        if last is not None:
            pause = last + 1.0 / self.rate - self.clock()
            if pause > 0:
                self.sleep(pause)
        self._last[host] = self.clock()

    def _allowed(self, url: str) -> bool:
        """robots.txt, read once per host: missing (4xx) allows all; a server error or no answer disallows all."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(origin)
        if parser is None:
            parser = RobotFileParser()
            robots = origin + "/robots.txt"
            self._wait(robots)
            try:
                r = self._client.get(robots)
            except httpx.HTTPError as e:
                raise FileRejected(url, _network_reason(e, self.timeout)) from None
            if r.status_code >= 500:
                parser.disallow_all = True
            elif r.status_code >= 400:
                parser.allow_all = True
            else:
                parser.parse(r.text[: self.max_bytes].splitlines())
            self._robots[origin] = parser
        return parser.can_fetch(USER_AGENT, url)


def _network_reason(e: httpx.HTTPError, timeout: float) -> str:
    if isinstance(e, httpx.TooManyRedirects):
        return f"the page redirects more than {MAX_REDIRECTS} times (a redirect loop?); open it in a browser to check"
    if isinstance(e, httpx.TimeoutException):
        return f"the server did not answer within {timeout:g} s (raise QA_FETCH_TIMEOUT to wait longer)"
    if isinstance(e, httpx.ConnectError):
        return f"cannot reach the server ({e or 'connection failed'}); check the URL and the network"
    return f"the request failed ({e.__class__.__name__}: {e}); check the URL and try again"


def fetch_article(
    fetcher: Fetcher, url: str, previous: dict[str, Any] | None = None, feed_date: str | None = None
) -> Article | None:
    """The article at ``url``, or None when the server says it has not changed since ``previous`` (the stored
    metadata of its last ingest). The URL is the article's source and path; ``feed_date`` the date a feed gave."""
    previous = previous or {}
    page = fetcher.fetch(url, previous.get("etag"), previous.get("last_modified"), kinds=(*HTML_TYPES, PDF_TYPE))
    if page.body is None:
        return None
    if not page.body.strip():
        raise FileRejected(url, "the page is empty")
    web = {"site": urlsplit(url).hostname, "etag": page.etag, "last_modified": page.last_modified}
    if page.content_type.split(";")[0].strip().lower() == PDF_TYPE:
        return pdf_article(page.body, url, url, **web)
    html = _decode(page, url)
    return html_article(html, url, url, url=url, feed_date=feed_date, etag=page.etag, last_modified=page.last_modified)


def _decode(page: Page, url: str) -> str:
    """The charset the server declares wins over the page's own ``<meta>``; else :func:`ingest.load.decode`."""
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", page.content_type, re.I)
    if m and page.body is not None:
        try:
            return page.body.decode(m.group(1))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(page.body or b"", url, html=True)
