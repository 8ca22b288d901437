"""ingest/copies.py: syndicated copies found by MinHash/LSH, stored once, recorded as copies; the threshold's
figures measured on the fixtures."""

from __future__ import annotations

import html
import itertools
import json
import shutil
from pathlib import Path

import pytest

from ingest.copies import THRESHOLD, CopyFinder, signature
from ingest.load import load
from ingest.sync import sync
from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES
from qa.store import open_store
from qa.web.render import render_sources

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
        after = snapshot(store)
        assert after.keys() == before.keys()
        assert {k: (d, {**m, "copies": None}) for k, (d, m) in after.items()} == {
            k: (d, {**m, "copies": None}) for k, (d, m) in before.items()
        }
    # The copy is listed in the original's metadata (the one change a copy makes to the store), once.
    original = str(news / "original.txt")
    assert {m.get("copies") for _, m in after.values() if m["path"] == original} == {
        json.dumps([{"source": copy, "date": None, "site": "127.0.0.1"}])
    }


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


def test_an_earlier_publication_takes_the_place_of_its_later_copy(site, tmp_path, embedder, make_config, snapshot):
    """Answers cite the earliest publication: a copy dated before the stored page replaces it, in one run or
    two, and the page it replaced (with the copies it had) is listed as its copy."""
    later = f"{site}/copies/original.html?published=2024-12-27"
    other = f"{site}/copies/original.html?published=2024-12-28&via=feed"
    earlier = f"{site}/copies/edited_copy.html?published=2024-12-26"
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    first = sync([], store, embedder, config, progress=False, urls=[later, other])
    assert first.added == 1 and [c["path"] for c in first.copies] == [other]
    r = sync([], store, embedder, config, progress=False, urls=[earlier])
    assert r.added == 1 and r.copies == [
        {"path": later, "copy_of": earlier, "similarity": r.copies[0]["similarity"], "replaced": True}
    ]
    rows = snapshot(store).values()
    assert {m["path"] for _, m in rows} == {earlier}
    copies = json.loads(next(iter(rows))[1]["copies"])
    assert [(c["source"], c["date"]) for c in copies] == [(later, "2024-12-27"), (other, "2024-12-28")]
    again = sync([], store, embedder, config, progress=False, urls=[later, other, earlier])
    assert again.added == 0 and {m["path"] for _, m in snapshot(store).values()} == {earlier}
    # The answer cites the earliest publication and lists the others, on the page too.
    a = Assistant(config, embedder, store).ask("Which ship did Finland's coast guard board?")
    assert a.citations[0].source == earlier and a.citations[0].date == "2024-12-26"
    assert [r.source for r in a.citations[0].copies] == [later, other]
    assert html.escape(f"also published: {later} (2024-12-27); {other} (2024-12-28)") in render_sources(a, 1)
    # Within one run, the later page read first is replaced before it is written.
    config2 = make_config(tmp_path / "store2")
    store2 = open_store(config2, embedder.name, embedder.dim, create=True)
    both = sync([], store2, embedder, config2, progress=False, urls=[later, earlier])
    assert both.added == 1 and {m["path"] for _, m in snapshot(store2).values()} == {earlier}


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
