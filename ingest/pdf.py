"""PDF files (and PDF links) into Articles, keeping where each page starts so a passage can say "p. 3".

The text is pypdf's text layer, page after page, pages separated by a blank line (a paragraph break, so
passages tend to start on a new page). A PDF without a text layer (a scan) or locked by a password cannot be
read without tools we do not ship: both get a message that says what to do instead.
"""

from __future__ import annotations

import io
import logging
from bisect import bisect_right
from collections.abc import Sequence

from qa.errors import FileRejected

log = logging.getLogger(__name__)

PAGE_BREAK = "\n\n"
UNLOCK = "save a copy without the password or encryption (print to PDF) and ingest that"


def pdf_text(data: bytes, where: str, min_letters: int) -> tuple[str, tuple[int, ...], str | None]:
    """The text of every page, the character offset where each page starts, and the document's title."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # many PDFs are "encrypted" with an empty password
            raise FileRejected(where, f"this PDF is locked with a password; {UNLOCK}")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except FileRejected:
        raise
    except DependencyError:  # AES encryption: pypdf needs the cryptography package to open it, even without a password
        raise FileRejected(where, f"this PDF is encrypted (AES); {UNLOCK}") from None
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        if "decrypt" in str(e).lower() or "password" in str(e).lower():
            raise FileRejected(where, f"this PDF is locked with a password; {UNLOCK}") from None
        raise FileRejected(where, f"cannot read this PDF ({e}); it may be damaged") from None
    if not pages:
        raise FileRejected(where, "this PDF has no pages")
    if sum(c.isalnum() for p in pages for c in p) < min_letters:
        raise FileRejected(
            where,
            f"this PDF has no text layer on its {len(pages)} page(s) (a scan or images of text); "
            "make it searchable with OCR first (e.g. ocrmypdf) and ingest the result",
        )
    starts: list[int] = []
    text = ""
    for p in pages:
        if text and p:
            text += PAGE_BREAK
        starts.append(len(text))
        text += p
    return text, tuple(starts), title.strip() if isinstance(title, str) and title.strip() else None


def page_of(offset: int, page_starts: Sequence[int]) -> int:
    """The 1-based page that holds character ``offset``."""
    return max(1, bisect_right(page_starts, offset))
