"""ingest/pdf.py: PDFs read page by page (each passage knows its page), and the PDFs that cannot be read."""

from __future__ import annotations

import time

import pytest

from ingest.fetch import Fetcher, fetch_article
from ingest.load import load
from ingest.pdf import page_of
from ingest.sync import sync
from qa.store import open_store
from tests.ingest.pdfs import LONG_REPORT, REPORT, locked_pdf, scanned_pdf, text_pdf


def test_page_of():
    starts = (0, 100, 100, 250)  # page 3 is empty
    assert [page_of(o, starts) for o in (0, 99, 100, 249, 250, 999)] == [1, 1, 3, 3, 4, 4]


def test_a_pdf_becomes_an_article_that_knows_its_pages(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(text_pdf(REPORT, title="Cable report"))
    a = load(path, 5_000_000)
    assert a.title == "Cable report" and a.lang == "en" and a.source == "report.pdf"
    assert len(a.page_starts) == 3 and a.page_starts[0] == 0
    third = a.text[a.page_starts[2] :]
    assert third.startswith("Costs\nRepairs are expected to cost about 12 million euros")
    assert a.text[a.page_starts[1] - 2 : a.page_starts[1]] == "\n\n"  # pages are paragraphs


def test_a_pdf_without_title_metadata_takes_its_headline(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(text_pdf([["Short headline", "", "The coast guards of Finland and Sweden inspected two cables."]]))
    assert load(path, 5_000_000).title == "Short headline"


def test_every_passage_stores_its_page(tmp_path, embedder, make_config, snapshot):
    path = tmp_path / "news" / "long.pdf"
    path.parent.mkdir()
    path.write_bytes(text_pdf(LONG_REPORT))
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    t0 = time.perf_counter()
    r = sync([path.parent], store, embedder, config, progress=False)
    seconds = time.perf_counter() - t0
    assert r.added == 1 and not r.failed
    article = load(path, 5_000_000)
    rows = sorted(snapshot(store).values(), key=lambda x: x[1]["start"])
    assert len(rows) >= 3
    for doc, meta in rows:
        assert meta["page"] == page_of(meta["start"], article.page_starts)
        inside = [int(o) for o in meta.get("page_starts", "").split(",") if o]
        assert inside == [o for o in article.page_starts if meta["start"] < o < meta["end"]]
        assert doc.startswith(f"Page {meta['page']},") or f"Page {meta['page']}," in doc
    euros = [m for d, m in rows if "12 million euros" in d]
    assert euros and all(page_of(m["end"] - 1, article.page_starts) == 3 for m in euros)
    print(f"PDF: 3 pages, {len(rows)} passages ingested in {seconds:.2f} s ({3 / seconds:.1f} pages/s)")


@pytest.mark.parametrize(
    "make, message",
    [
        (
            scanned_pdf,
            "this PDF has no text layer on its 2 page(s) (a scan or images of text); make it searchable with OCR first (e.g. ocrmypdf) and ingest the result",
        ),
        (
            lambda: locked_pdf(text_pdf(REPORT), "secret"),
            "this PDF is locked with a password; save a copy without the password or encryption (print to PDF) and ingest that",
        ),
        (lambda: b"%PDF-1.4\n1 0 obj garbage", "cannot read this PDF ("),
        (lambda: text_pdf([["", ""]]), "this PDF has no text layer on its 1 page(s)"),
    ],
    ids=["scanned", "password", "damaged", "blank-page"],
)
def test_unreadable_pdfs_are_refused_and_the_rest_goes_in(tmp_path, embedder, make_config, snapshot, make, message):
    news = tmp_path / "news"
    news.mkdir()
    (news / "bad.pdf").write_bytes(make())
    (news / "good.pdf").write_bytes(text_pdf(REPORT))
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    r = sync([news], store, embedder, config, progress=False)
    assert r.added == 1 and [f.path for f in r.failed] == [str(news / "bad.pdf")]
    assert message in r.failed[0].reason
    assert {m["source"] for _, m in snapshot(store).values()} == {"good.pdf"}


def test_a_pdf_locked_only_against_editing_is_read(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(locked_pdf(text_pdf(REPORT), ""))
    assert "12 million euros" in load(path, 5_000_000).text


def test_a_pdf_link_is_read_as_a_pdf(site):
    with Fetcher(timeout=2, rate=1000) as f:
        a = fetch_article(f, f"{site}/report.pdf")
    assert a.title == "Cable report" and len(a.page_starts) == 3 and a.site == "127.0.0.1"
    assert a.source == a.path == f"{site}/report.pdf"
