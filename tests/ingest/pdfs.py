"""Small PDFs made on the spot for the tests: text pages (a real text layer, Helvetica), scans with no text
layer, and password-locked copies. Made here rather than stored, so what each one holds is readable."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter


def text_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A PDF whose page i shows the lines ``pages[i]``."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages' numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for lines in pages:
        shown = b" T* ".join(b"(" + _escape(line) + b") Tj" for line in lines)
        stream = b"BT /F1 11 Tf 72 740 Td 14 TL " + shown + b" ET"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % len(objects)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(kids)
    info = None
    if title:
        objects.append(b"<< /Title (" + _escape(title) + b") >>")
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1) + (b" /Info %d 0 R" % info if info else b"") + b" >>"
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages with nothing in a text layer, as a scanner makes them (the image left out: it is not read anyway)."""
    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(612, 792)
    return _bytes(w)


def locked_pdf(data: bytes, user_password: str) -> bytes:
    """``data`` encrypted; with an empty ``user_password`` any reader opens it (only editing is restricted)."""
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    w.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    return _bytes(w)


def _bytes(w: PdfWriter) -> bytes:
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


REPORT = [
    [
        "Baltic Sea infrastructure report",
        "The coast guards of Finland and Sweden inspected two damaged cables in November.",
        "Both cables connect the Finnish mainland with Germany and Sweden.",
    ],
    [
        "Findings",
        "The damage stretched over several kilometres of the seabed.",
        "A tanker is suspected of dragging its anchor across both cables.",
    ],
    [
        "Costs",
        "Repairs are expected to cost about 12 million euros and to take six weeks.",
        "The repair ship Cable Vigilance will start work on the southern cable first.",
    ],
]

# Three pages long enough that passages (about 200 tokens) start on each page.
LONG_REPORT = [
    [
        f"Page {n}, finding {i}: inspectors of the {topic} measured section {i} of the cable and logged it."
        for i in range(14)
    ]
    + extra
    for n, topic, extra in [
        (1, "Finnish coast guard", ["Both cables connect the Finnish mainland with Germany and Sweden."]),
        (2, "Swedish navy", ["A tanker is suspected of dragging its anchor across both cables."]),
        (3, "repair company", ["Repairs are expected to cost about 12 million euros and to take six weeks."]),
    ]
]
