"""ingest/load.py: files into Articles (text, title, date, language, hash) and the files it must refuse."""

from __future__ import annotations

import hashlib
import re

import pytest

from ingest.load import discover, load
from qa.config import BUNDLED_ARTICLES
from qa.errors import FileRejected, InputError

MB = 1_000_000
ARTICLE = (
    "Russia and Ukraine agreed to stop using force in the Black Sea after talks in Saudi Arabia, "
    "the White House said on Tuesday, but the Kremlin attached conditions to the deal.\n"
)


def bundled(prefix: str):
    return load(next(BUNDLED_ARTICLES.glob(f"{prefix}_*.txt")), 5 * MB)


def test_bundled_languages():
    langs = {p.name[:3]: load(p, 5 * MB).lang for p in sorted(BUNDLED_ARTICLES.glob("*.txt"))}
    assert langs == {"000": "ar", "001": "sq", "002": "en", "003": "sq", "004": "it"}


def test_plain_text_is_kept_exactly_so_offsets_point_into_the_file():
    for path in BUNDLED_ARTICLES.glob("*.txt"):
        article = load(path, 5 * MB)
        assert article.text == path.read_text(encoding="utf-8")
        assert article.sha256 == hashlib.sha256(article.text.encode()).hexdigest()
        assert article.source == path.name and article.path == str(path.resolve())


def test_title_from_a_headline_first_line():
    assert bundled("002").title == (
        "Ukraine War Update, Zelensky Claims Russia May Deploy North Korean Troops to Battlefront as Soon as Sunday"
    )


def test_a_first_line_that_is_a_sentence_is_no_title():
    assert [bundled(p).title for p in ("000", "001", "004")] == [None, None, None]


def test_date_from_a_leading_date_line():
    article = bundled("003")
    assert article.date == "2024-11"
    assert article.title is None  # the date line runs on into the first sentence: no headline
    assert [bundled(p).date for p in ("000", "001", "002", "004")] == [None] * 4


def test_markdown_title(tmp_path):
    f = tmp_path / "talks.md"
    f.write_text("# Ceasefire talks stall in Riyadh\n\n" + ARTICLE * 3, encoding="utf-8")
    assert load(f, MB).title == "Ceasefire talks stall in Riyadh"


def test_markdown_title_below_a_lead_paragraph(tmp_path):
    f = tmp_path / "talks.md"
    f.write_text(ARTICLE + "\n# Kremlin sets conditions\n\n" + ARTICLE, encoding="utf-8")
    assert load(f, MB).title == "Kremlin sets conditions"


NEWS_PAGE = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Kremlin sets conditions for Black Sea truce | Example News</title>
<meta property="og:title" content="Kremlin sets conditions for Black Sea truce">
<meta property="article:published_time" content="2025-03-26T09:30:00Z">
<script>window.dataLayer = [{"trackingSecret": "cookie-banner-tracker"}];</script>
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/sport">Sport news</a></li></ul></nav>
<article>
<h1>Kremlin sets conditions for Black Sea truce</h1>
<p>Russia and Ukraine agreed to stop using force in the Black Sea after three days of talks in Saudi Arabia,
the White House said on Tuesday, in the first concrete step towards a wider ceasefire.</p>
<p>The Kremlin said the deal would only take effect once sanctions on its agricultural bank and exporters
were lifted, a condition that Kyiv and its European allies rejected within hours.</p>
<p>Ukrainian officials said they would treat any Russian warship leaving the eastern Black Sea as a threat,
and asked Washington to spell out how the pause on strikes against energy infrastructure would be checked.</p>
</article>
<footer>Subscribe to our newsletter. Cookie settings. All rights reserved.</footer>
<script>document.write("advertisement slot 42")</script>
</body></html>
"""


def test_html_news_page_main_text_title_and_date(tmp_path):
    f = tmp_path / "truce.html"
    f.write_text(NEWS_PAGE, encoding="utf-8")
    article = load(f, MB)
    assert article.title == "Kremlin sets conditions for Black Sea truce"
    assert article.date == "2025-03-26"
    assert article.lang == "en"
    assert "only take effect once sanctions on its agricultural bank" in article.text
    assert "energy infrastructure would be checked" in article.text
    for noise in ("trackingSecret", "advertisement slot", "Sport news", "Subscribe to our newsletter"):
        assert noise not in article.text


def test_utf16_with_a_byte_order_mark_is_read(tmp_path):
    f = tmp_path / "utf16.txt"
    f.write_bytes(ARTICLE.encode("utf-16"))
    assert load(f, MB).text == ARTICLE


def test_html_declared_charset_is_honoured(tmp_path):
    page = NEWS_PAGE.replace('charset="utf-8"', 'charset="iso-8859-1"').replace("Saudi Arabia", "Saudi Arabia (Riyâd)")
    f = tmp_path / "latin1.html"
    f.write_bytes(page.encode("iso-8859-1"))
    assert "Riyâd" in load(f, MB).text


# --- files that must be refused, each with a reason that says what is wrong ---------------------------

REFUSED = [
    ("empty.txt", b"", MB, r"the file is empty"),
    ("blank.txt", b" \n\t\n   \r\n", MB, r"no text \(only white space\)"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), MB, r"binary file .*NUL bytes"),
    (
        "latin1.txt",
        ARTICLE.replace("Tuesday", "Mardì").encode("latin-1"),
        MB,
        r"not valid UTF-8 \(byte 0xec at offset \d+\); save the file as UTF-8",
    ),
    ("big.txt", (ARTICLE * 40).encode(), 2000, r"over the [\d.]+ MB limit \(raise QA_MAX_FILE_MB to allow it\)"),
    ("tiny.txt", b"Breaking: war.", MB, r"too little text"),
    (
        "scripts.html",
        b"<html><head><script>var a = 1;</script></head><body><script>track()</script>"
        b"<nav><a href='/'>Home</a></nav></body></html>",
        MB,
        r"no article text found in this HTML page",
    ),
    (
        "bad-charset.html",
        b'<html><head><meta charset="klingon-8"></head><body><p>text</p></body></html>',
        MB,
        r"unknown encoding 'klingon-8'",
    ),
]


@pytest.mark.parametrize("name, content, limit, reason", REFUSED, ids=[c[0] for c in REFUSED])
def test_unusable_files_are_refused_with_the_reason(tmp_path, name, content, limit, reason):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(FileRejected) as e:
        load(f, limit)
    assert e.value.path == str(f)
    assert re.search(reason, e.value.reason), e.value.reason


def test_discover_walks_folders_and_reports_unsupported_types(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.txt", "a/b/two.md", "a/b/three.HTML", "a/report.docx", "a/.hidden.txt", "a/noext"):
        (tmp_path / name).write_text("x")
    files, rejected = discover([tmp_path / "a", tmp_path / "a" / "one.txt"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/one.txt", "a/b/three.HTML", "a/b/two.md"]
    reasons = {r.path.rsplit("/", 1)[-1]: r.reason for r in rejected}
    assert set(reasons) == {"report.docx", "noext"}
    assert reasons["report.docx"] == "unsupported file type .docx; use one of .htm, .html, .markdown, .md, .pdf, .txt"
    assert reasons["noext"].startswith("unsupported file type (none)")


def test_a_missing_path_stops_the_whole_batch(tmp_path):
    (tmp_path / "ok.txt").write_text(ARTICLE)
    with pytest.raises(InputError, match=r"no-such-file\.txt: no such file or folder"):
        discover([tmp_path / "ok.txt", tmp_path / "no-such-file.txt"])
