"""ingest/copies.py: syndicated copies found by MinHash/LSH, stored once, recorded as copies; the threshold's
figures measured on the fixtures."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from ingest.copies import THRESHOLD, CopyFinder, signature
from ingest.load import load
from ingest.sync import sync
from qa.config import BUNDLED_ARTICLES
from qa.store import open_store

COPIES = Path(__file__).parent / "fixtures" / "copies"


def similarity(a: str, b: str) -> float:
    return signature(a).jaccard(signature(b))


def text(name: str) -> str:
    return load(COPIES / name, 5_000_000).text


def test_the_threshold_separates_copies_from_translations_and_other_stories():
    original = text("original.txt")
    figures = {
        name: similarity(original, text(name)) for name in ("edited_copy.txt", "translation_fr.txt", "other_story.txt")
    }
    print("Jaccard with original.txt:", {k: round(v, 3) for k, v in figures.items()})
    assert figures["edited_copy.txt"] >= THRESHOLD + 0.1  # a new headline, three phrases changed, a paragraph added
    assert figures["translation_fr.txt"] < 0.05
    assert figures["other_story.txt"] < 0.05


def test_no_two_bundled_articles_are_copies():
    texts = [load(p, 5_000_000).text for p in sorted(BUNDLED_ARTICLES.glob("*.txt"))]
    best = max(similarity(a, b) for a, b in itertools.combinations(texts, 2))
    print(f"bundled articles: highest Jaccard between two of them {best:.3f}")
    assert best < 0.1


def test_a_short_text_is_never_called_a_copy():
    finder = CopyFinder()
    finder.add("a", "Storm warning for the coast tonight.")
    assert finder.copy_of("b", "Storm warning for the coast tonight.") is None


@pytest.fixture
def news(tmp_path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    for name in ("original.txt", "translation_fr.txt", "other_story.txt"):
        shutil.copy(COPIES / name, folder / name)
    return folder


def test_a_copied_page_is_stored_once_and_recorded(site, news, tmp_path, embedder, make_config, snapshot):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    first = sync([news], store, embedder, config, progress=False)
    assert (first.added, first.copies) == (3, [])  # the translation and the other story are no copies
    before = snapshot(store)
    copy = f"{site}/copies/edited_copy.html"
    for _ in range(2):  # the second time, the same again: nothing stored, the copy recorded once
        r = sync([news], store, embedder, config, progress=False, urls=[copy])
        assert (r.added, r.skipped, r.failed) == (0, 3, [])
        assert [(c["path"], c["copy_of"]) for c in r.copies] == [(copy, str(news / "original.txt"))]
        assert r.copies[0]["similarity"] >= THRESHOLD
        assert snapshot(store) == before
    log = json.loads((tmp_path / "store" / "copies-articles.json").read_text())
    assert log == {str(news / "original.txt"): [copy]}


def test_pages_that_are_no_copies_go_in(site, news, tmp_path, embedder, make_config):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    sync([news / "original.txt"], store, embedder, config, progress=False)
    urls = [f"{site}/copies/translation_fr.html", f"{site}/copies/other_story.html"]
    r = sync([], store, embedder, config, progress=False, urls=urls)
    assert (r.added, r.copies) == (2, [])


def test_copied_pages_within_one_batch_keep_the_first(site, tmp_path, embedder, make_config, snapshot):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    original, copy = f"{site}/copies/original.html", f"{site}/copies/edited_copy.html"
    r = sync([], store, embedder, config, progress=False, urls=[original, copy])
    assert r.added == 1 and [(c["path"], c["copy_of"]) for c in r.copies] == [(copy, original)]
    assert {m["source"] for _, m in snapshot(store).values()} == {original}


def test_files_are_never_dropped_as_copies(news, tmp_path, embedder, make_config):
    """Two versions of a file kept on purpose both go in (``test_sync`` relies on it too)."""
    shutil.copy(COPIES / "edited_copy.txt", news / "zz_copy.txt")
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    r = sync([news], store, embedder, config, progress=False)
    assert (r.added, r.copies) == (4, [])


def test_the_cli_says_which_page_is_a_copy(site, news, tmp_path, qa_env, capsys):
    from ingest.__main__ import main

    copy = f"{site}/copies/edited_copy.html"
    assert main([str(news), copy, "--store", str(tmp_path / "store"), "--json"]) == 0  # a copy is no failure
    out = capsys.readouterr()
    assert json.loads(out.out)["copies"][0]["path"] == copy
    assert f"ingest: {copy} is a copy of {news / 'original.txt'} (" in out.err
    assert "recorded as a copy, not stored again" in out.err
