"""A local web site for the ingest tests: an HTTP server on 127.0.0.1 (a free port) serving the fixture pages
and the misbehaving routes a real web has. Nothing else is ever contacted."""

from __future__ import annotations

import hashlib
import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.ingest.pdfs import LONG_REPORT, text_pdf

WEB = Path(__file__).parent / "fixtures" / "web"
COPIES = Path(__file__).parent / "fixtures" / "copies"


def as_html(text: str, published: str | None = None) -> bytes:
    """A plain-text article as a news page: its first paragraph the headline, the others paragraphs; with
    ``published``, the date in the page's metadata as news sites state it."""
    head, *paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    meta = f'<meta property="article:published_time" content="{html.escape(published)}">' if published else ""
    page = f"<html><head><title>{html.escape(head)}</title>{meta}</head><body><article><h1>{html.escape(head)}</h1>"
    return (page + body + "</article></body></html>").encode()


class Site(BaseHTTPRequestHandler):
    """The fixture pages, plus the misbehaving routes a real web has; every request is logged."""

    log: list[tuple[str, dict[str, str], int]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        routes = {
            "/robots.txt": lambda: self.send(200, (WEB / "robots.txt").read_bytes(), "text/plain"),
            "/missing": lambda: self.send(404, b"not here", "text/html"),
            "/broken": lambda: self.send(500, b"oops", "text/html"),
            "/loop": lambda: self.send(302, b"", "text/html", Location="/loop"),
            "/moved": lambda: self.send(301, b"", "text/html", Location="/news/cable.html"),
            "/slow": self.slow,
            "/data.json": lambda: self.send(200, (WEB / "data.json").read_bytes(), "application/json"),
            "/big": lambda: self.send(200, b"<p>" + b"news " * 60_000 + b"</p>", "text/html"),
            "/big-unannounced": self.unannounced,
            "/empty": lambda: self.send(200, b"", "text/html"),
            "/scripts": lambda: self.send(200, (WEB / "scripts_only.html").read_bytes(), "text/html"),
            "/private/page.html": lambda: self.send(200, (WEB / "cable.html").read_bytes(), "text/html"),
            "/feed.xml": lambda: self.send(200, self.feed(), "application/rss+xml"),
            "/not-a-feed": lambda: self.send(200, (WEB / "cable.html").read_bytes(), "text/html"),
            "/report.pdf": lambda: self.send(200, text_pdf(LONG_REPORT, "Cable report"), "application/pdf"),
        }
        if path in routes:
            return routes[path]()
        if path.startswith("/copies/") and (COPIES / f"{Path(path).stem}.txt").is_file():
            published = parse_qs(urlsplit(self.path).query).get("published", [None])[0]  # ?published=2024-11-20
            page = as_html((COPIES / f"{Path(path).stem}.txt").read_text(), published)
            return self.send(200, page, "text/html; charset=utf-8")
        if path.startswith("/news/") and (WEB / path[6:]).is_file():
            body = (WEB / path[6:]).read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                return self.send(304, b"", "text/html", ETag=etag)
            return self.send(200, body, "text/html; charset=utf-8", ETag=etag)
        self.send(404, b"not here", "text/html")

    def send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
        Site.log.append((self.path, dict(self.headers), status))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def feed(self) -> bytes:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return (WEB / "feed.xml").read_text(encoding="utf-8").replace("{base}", base).encode()

    def slow(self) -> None:
        Site.log.append((self.path, dict(self.headers), 200))
        time.sleep(2)
        self.send_response(200)
        self.end_headers()

    def unannounced(self) -> None:
        """A body with no Content-Length: the limit must hold while reading."""
        Site.log.append((self.path, dict(self.headers), 200))
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"<p>" + b"news " * 2000 + b"</p>")
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve() -> Iterator[str]:
    """The site's base URL while it runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
