"""qa.web.uploads: safe names and limits, and the copy-then-ingest transaction on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.load import SUFFIXES
from qa.errors import InputError
from qa.web.uploads import MAX_NAME_CHARS, Uploads, check_upload, safe_filename, upload_path

ALLOWED = sorted(SUFFIXES)


@pytest.mark.parametrize(
    "name, safe",
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.MD", "evil.md"),
        ("..", "upload"),
        (".hidden.txt", "hidden.txt"),
        ("a<b>|c:d?.html", "a_b_c_d.html"),
        ("nul\x00byte\n.txt", "nulbyte.txt"),
        ("مقالة الأخبار.txt", "مقالة الأخبار.txt"),
        ("", "upload"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe


def test_safe_filename_keeps_the_suffix_of_long_names():
    out = safe_filename("x" * 500 + ".html")
    assert len(out) == MAX_NAME_CHARS and out.endswith(".html")


def test_upload_path_never_leaves_the_folder(tmp_path):
    for name in ("../../x.txt", "/etc/x.txt", "a/../../x.txt", "..", "./.."):
        assert upload_path(tmp_path, name).parent == tmp_path


def test_check_upload_limits_type_size_and_emptiness(tmp_path):
    ok = tmp_path / "ok.txt"
    ok.write_text("some text " * 10)
    check_upload(ok, "ok.txt", 1, ALLOWED)
    with pytest.raises(InputError, match="unsupported file type .exe"):
        check_upload(ok, "ok.exe", 1, ALLOWED)
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 2_000_001)
    with pytest.raises(InputError, match="over the 2 MB limit"):
        check_upload(big, "big.md", 2, ALLOWED)
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        check_upload(empty, "e.txt", 1, ALLOWED)


def test_rejected_uploads_are_removed_and_a_replaced_file_restored(writable, library, upload, snapshot):
    uploads = Path(writable.config.store) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "old.txt").write_text("the version already ingested")
    before = snapshot(writable.store)
    with pytest.raises(InputError, match="nothing was added.*too little text"):
        Uploads(library, uploads, ALLOWED, 1).add([upload("old.txt", "x"), upload("new.txt", "y")])
    assert sorted(p.name for p in uploads.iterdir()) == ["old.txt"]
    assert (uploads / "old.txt").read_text() == "the version already ingested"
    assert snapshot(writable.store) == before
