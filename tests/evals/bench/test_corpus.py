"""evals/bench/corpus.py: the generated corpus, from real sentences with a fixed seed."""

from __future__ import annotations

import json

import pytest

from evals.bench.corpus import PASSAGE_STEP, make_corpus, sentence_pool, write_corpus
from evals.xquad import DEFAULT_DATA as XQUAD
from qa.errors import InputError


def _words(text: str) -> int:
    return len(text.split())


def _xquad(folder, lang: str, contexts: list[str]) -> None:
    doc = {"data": [{"title": "T", "paragraphs": [{"context": c, "qas": []} for c in contexts]}]}
    (folder / f"xquad.{lang}.json").write_text(json.dumps(doc), encoding="utf-8")


def test_the_sentence_pool_has_every_language_split_into_sentences(tmp_path):
    _xquad(tmp_path, "en", ["The river floods in spring. Farmers move uphill.", "Trade grew by 3.5 percent."])
    _xquad(tmp_path, "de", ["Der Fluss steigt im Mai. Die Bauern ziehen weg."])
    pool = sentence_pool(tmp_path, articles=None)
    assert pool == {
        "en": ["The river floods in spring.", "Farmers move uphill.", "Trade grew by 3.5 percent."],
        "de": ["Der Fluss steigt im Mai.", "Die Bauern ziehen weg."],
    }


def test_the_pool_adds_the_bundled_articles(tmp_path):
    _xquad(tmp_path, "en", ["One sentence here."])
    pool = sentence_pool(tmp_path)
    assert {"sq", "it", "ar"} <= set(pool)  # the bundled corpus is Albanian, Italian, Arabic, ...
    assert sum(len(v) for v in pool.values()) > 50
    assert all(s == s.strip() and s for v in pool.values() for s in v)


@pytest.mark.skipif(not XQUAD.is_dir(), reason="needs ../shared/benchmarks/xquad")
def test_the_real_pool_covers_all_xquad_languages():
    pool = sentence_pool(XQUAD, articles=None)
    assert set(pool) == {"ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"}
    assert min(len(v) for v in pool.values()) > 200


def test_bad_xquad_folders_are_named(tmp_path):
    with pytest.raises(InputError, match="no xquad.<lang>.json files"):
        sentence_pool(tmp_path, articles=None)
    (tmp_path / "xquad.en.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read .*xquad.en.json as XQuAD"):
        sentence_pool(tmp_path, articles=None)


POOL = {
    "en": [f"English sentence number {i} says something new." for i in range(30)],
    "sq": [f"Fjalia shqipe numër {i} thotë diçka të re." for i in range(30)],
}


def test_the_corpus_is_the_same_for_the_same_seed_and_covers_the_passages():
    a = make_corpus(POOL, 40, seed=8, count_tokens=_words, article_tokens=100)
    assert a == make_corpus(POOL, 40, seed=8, count_tokens=_words, article_tokens=100)
    assert a != make_corpus(POOL, 40, seed=9, count_tokens=_words, article_tokens=100)
    tokens = sum(_words(x.text) for x in a)
    assert tokens >= 40 * PASSAGE_STEP and tokens < 40 * PASSAGE_STEP + 2 * 100
    for art in a:  # one language per article, built only from that language's sentences
        assert art.name.endswith(f"-{art.lang}.txt") and _words(art.text) >= 100
        parts = [x if x.endswith(".") else x + "." for x in art.text.split(". ")]
        assert set(parts) <= set(POOL[art.lang])
    assert {art.lang for art in a} == {"en", "sq"}
    assert len({art.name for art in a}) == len(a)


def test_a_corpus_needs_at_least_one_passage():
    with pytest.raises(InputError, match="at least 1"):
        make_corpus(POOL, 0, seed=8, count_tokens=_words)


def test_writing_the_corpus_only_touches_changed_files(tmp_path):
    arts = make_corpus(POOL, 10, seed=8, count_tokens=_words, article_tokens=100)
    folder = write_corpus(tmp_path / "c", arts)
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(first) == sorted(a.name for a in arts)
    write_corpus(folder, arts)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == first
    assert (folder / arts[0].name).read_text(encoding="utf-8") == arts[0].text
