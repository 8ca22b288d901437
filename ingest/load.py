"""Read one file into an :class:`Article`: decoded text, title, date, language and content hash.

Plain text and Markdown keep their text exactly, so passage offsets point into the file as the user has it.
HTML goes through trafilatura, which is built to find the main text, title and date of news pages.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.dates import find_date
from ingest.pdf import pdf_text
from qa.errors import FileRejected, InputError
from qa.text import DATE_LINE, detect_language, lead_label
from qa.types import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES  # what the page's uploads accept
PDF_SUFFIXES = {".pdf"}
FILE_SUFFIXES = SUFFIXES | PDF_SUFFIXES  # what ingest reads from disk
MIN_LETTERS = 20  # fewer letters than this is no article (a menu, a caption, a stray note)

_HEADLINE_END = re.compile(r"[.!?؟。:;,]\s*$")
_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


def require_paths(paths: list[Path]) -> None:
    """A missing path stops everything (nothing is ingested, no store is created): it is almost always a typo."""
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")


def discover(paths: list[Path]) -> tuple[list[Path], list[FileRejected]]:
    """Expand files and folders (recursively) into the files we can read, reporting the rest.

    Symbolic links to folders are not followed, so a link loop cannot hang the walk.
    """
    require_paths(paths)
    files: list[Path] = []
    rejected: list[FileRejected] = []
    for p in paths:
        if p.is_dir():
            for root, dirs, names in os.walk(p, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    if f.suffix.lower() in FILE_SUFFIXES:
                        files.append(f)
                    else:
                        rejected.append(
                            FileRejected(
                                str(f),
                                f"unsupported file type {f.suffix or '(none)'}; "
                                f"use one of {', '.join(sorted(FILE_SUFFIXES))}",
                            )
                        )
        elif p.suffix.lower() in FILE_SUFFIXES:
            files.append(p)
        else:
            rejected.append(
                FileRejected(
                    str(p),
                    f"unsupported file type {p.suffix or '(none)'}; use one of {', '.join(sorted(FILE_SUFFIXES))}",
                )
            )
    seen: set[Path] = set()
    unique = []
    for f in files:
        try:
            r = f.resolve(strict=True)
        except (OSError, RuntimeError) as e:  # a dangling link, or one that points to itself
            why = "a symbolic link loop" if isinstance(e, RuntimeError) or e.errno == errno.ELOOP else e.strerror
            rejected.append(FileRejected(str(f), f"cannot read it ({why})"))
            continue
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, rejected


def load(path: Path, max_bytes: int) -> Article:
    """Read and check one file; raise :class:`FileRejected` with the reason when it cannot be used."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FileRejected(str(path), f"cannot read it ({e.strerror})") from None
    if size == 0:
        raise FileRejected(str(path), "the file is empty")
    if size > max_bytes:
        raise FileRejected(
            str(path),
            f"the file is {size / 1e6:.3g} MB, over the {max_bytes / 1e6:.3g} MB limit "
            "(raise QA_MAX_FILE_MB to allow it)",
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FileRejected(str(path), f"cannot read it ({e.strerror})") from None
    if path.suffix.lower() in PDF_SUFFIXES:
        return pdf_article(data, path.name, str(path.resolve()))
    is_html = path.suffix.lower() in HTML_SUFFIXES
    text = decode(data, str(path), html=is_html)
    if is_html:
        return html_article(text, path.name, str(path.resolve()))
    title = _headline(text)
    if path.suffix.lower() in {".md", ".markdown"} and title is None:
        title = _markdown_title(text)
    if not text.strip():
        raise FileRejected(str(path), "the file has no text (only white space)")
    return article(path.name, str(path.resolve()), text, title)


def html_article(
    html: str, source: str, path: str, url: str | None = None, feed_date: str | None = None, **extra: Any
) -> Article:
    """An HTML page (a file, or fetched from ``url``) as an Article: trafilatura's main text and metadata.

    ``extra`` fields (a fetched page's ETag) are passed through to the Article.
    """
    doc = _from_html(html, path, url)
    if url:
        extra = {
            "author": doc.author,
            "site": urlsplit(url).hostname,
            "site_name": doc.site_name,
            "url": doc.url if doc.url and doc.url.startswith(("http://", "https://")) else None,
            **extra,
        }
    return article(source, path, doc.text, doc.title, doc.date, feed_date, **extra)


def pdf_article(data: bytes, source: str, path: str, **extra: Any) -> Article:
    """A PDF's text layer as an Article that remembers where each page starts (``ingest.pdf``)."""
    text, starts, title = pdf_text(data, path, MIN_LETTERS)
    # A PDF's lines come without blank lines between them: a short first line with no closing punctuation is taken
    # for the headline when the document names no title.
    return article(source, path, text, title or _headline(text.partition("\n")[0]), page_starts=starts, **extra)


def article(
    source: str,
    path: str,
    text: str,
    title: str | None,
    stated_date: str | None = None,
    feed_date: str | None = None,
    **extra: Any,
) -> Article:
    """Check the text is an article, then date it (``ingest.dates``), detect its language and hash it."""
    if _letters(text) < MIN_LETTERS:
        raise FileRejected(path, f"the file has too little text to be an article (fewer than {MIN_LETTERS} letters)")
    published = find_date(text, stated_date, feed_date=feed_date)
    return Article(
        source=source,
        path=path,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        title=title,
        label=title or lead_label(text),
        date=published.iso if published else None,
        lang=detect_language(text),
        date_precision=published.precision if published else None,
        date_origin=published.origin if published else None,
        **extra,
    )


def decode(data: bytes, where: str, html: bool = False) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or the charset an HTML page declares; else refuse.

    Guessing an encoding silently would store mojibake that nobody can search or quote.
    """
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(where, "this looks like a binary file (it contains NUL bytes), not text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileRejected(where, "the file starts with a UTF-16 mark but is not valid UTF-16") from None
    encoding = "utf-8-sig"
    if html and (m := _HTML_CHARSET.search(data[:4096])):
        encoding = m.group(1).decode("ascii").lower()
    try:
        text = data.decode(encoding)
    except LookupError:
        raise FileRejected(where, f"the page declares an unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as e:
        raise FileRejected(
            where,
            f"the bytes are not valid {encoding.replace('-sig', '').upper()} "
            f"(byte 0x{data[e.start]:02x} at offset {e.start}); save the file as UTF-8",
        ) from None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise FileRejected(where, "the text contains unpaired surrogate characters; save the file as UTF-8")
    return text


_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def _visible(html: str):
    """The page as an lxml tree without the elements a reader never sees (``hidden``, ``aria-hidden``,
    ``display:none``, ``visibility:hidden``): hidden text is where instructions for language models get
    planted, and it is no part of the article. The raw text if it does not parse.
    """
    from lxml import etree
    from lxml import html as lxml_html

    try:
        tree = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return html
    hidden = [
        el
        for el in tree.iter()
        if isinstance(el.tag, str)
        and (
            el.get("hidden") is not None
            or el.get("aria-hidden", "").lower() == "true"
            or _HIDDEN_STYLE.search(el.get("style", ""))
        )
    ]
    for el in hidden:
        if el.getparent() is not None:
            el.drop_tree()
    return tree


@dataclass(frozen=True)
class HtmlDoc:
    """What trafilatura finds in a page: its main text and the metadata it states."""

    text: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    site_name: str | None = None
    url: str | None = None  # the canonical URL, when the page names one


def _from_html(html: str, where: str, url: str | None = None) -> HtmlDoc:
    import trafilatura

    doc = trafilatura.bare_extraction(
        _visible(html),
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    text = getattr(doc, "text", None) or ""
    if _letters(text) < MIN_LETTERS:  # trafilatura may return a menu's "Home" from a page with no article
        raise FileRejected(where, "no article text found in this HTML page (only scripts, menus or markup)")
    return HtmlDoc(
        text,
        *(getattr(doc, name, None) or None for name in ("title", "date", "author", "sitename", "url")),
    )


def _letters(text: str) -> int:
    return len(re.findall(r"\w", text))


def _headline(text: str) -> str | None:
    """The first line, when it reads as a headline: short, followed by a blank line, no closing punctuation."""
    lines = text.lstrip("\ufeff").split("\n")
    first = lines[0].strip()
    if not first or DATE_LINE.match(first) or len(first) > 200 or _HEADLINE_END.search(first):
        return None
    if len(lines) > 1 and lines[1].strip():
        return None
    return first.lstrip("# ").strip() or None


def _markdown_title(text: str) -> str | None:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else None
