"""evals/bench.py: the pure parts of the benchmark (corpus, figures, command line). No timed assertions:
speed is what the benchmark prints, never what a test checks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evals import bench
from qa.errors import InputError

XQUAD = bench.DEFAULT_DATA


def _words(text: str) -> int:
    return len(text.split())


def _xquad(folder, lang: str, contexts: list[str]) -> None:
    doc = {"data": [{"title": "T", "paragraphs": [{"context": c, "qas": []} for c in contexts]}]}
    (folder / f"xquad.{lang}.json").write_text(json.dumps(doc), encoding="utf-8")


def test_the_sentence_pool_has_every_language_split_into_sentences(tmp_path):
    _xquad(tmp_path, "en", ["The river floods in spring. Farmers move uphill.", "Trade grew by 3.5 percent."])
    _xquad(tmp_path, "de", ["Der Fluss steigt im Mai. Die Bauern ziehen weg."])
    pool = bench.sentence_pool(tmp_path, articles=None)
    assert pool == {"en": ["The river floods in spring.", "Farmers move uphill.", "Trade grew by 3.5 percent."],
                    "de": ["Der Fluss steigt im Mai.", "Die Bauern ziehen weg."]}


def test_the_pool_adds_the_bundled_articles(tmp_path):
    _xquad(tmp_path, "en", ["One sentence here."])
    pool = bench.sentence_pool(tmp_path)
    assert {"sq", "it", "ar"} <= set(pool)  # the bundled corpus is Albanian, Italian, Arabic, ...
    assert sum(len(v) for v in pool.values()) > 50
    assert all(s == s.strip() and s for v in pool.values() for s in v)


@pytest.mark.skipif(not XQUAD.is_dir(), reason="needs ../shared/benchmarks/xquad")
def test_the_real_pool_covers_all_xquad_languages():
    pool = bench.sentence_pool(XQUAD, articles=None)
    assert set(pool) == {"ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"}
    assert min(len(v) for v in pool.values()) > 200


def test_bad_xquad_folders_are_named(tmp_path):
    with pytest.raises(InputError, match="no xquad.<lang>.json files"):
        bench.sentence_pool(tmp_path, articles=None)
    (tmp_path / "xquad.en.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read .*xquad.en.json as XQuAD"):
        bench.sentence_pool(tmp_path, articles=None)


POOL = {"en": [f"English sentence number {i} says something new." for i in range(30)],
        "sq": [f"Fjalia shqipe numër {i} thotë diçka të re." for i in range(30)]}


def test_the_corpus_is_the_same_for_the_same_seed_and_covers_the_passages():
    a = bench.make_corpus(POOL, 40, seed=8, count_tokens=_words, article_tokens=100)
    assert a == bench.make_corpus(POOL, 40, seed=8, count_tokens=_words, article_tokens=100)
    assert a != bench.make_corpus(POOL, 40, seed=9, count_tokens=_words, article_tokens=100)
    tokens = sum(_words(x.text) for x in a)
    assert tokens >= 40 * bench.PASSAGE_STEP and tokens < 40 * bench.PASSAGE_STEP + 2 * 100
    for art in a:  # one language per article, built only from that language's sentences
        assert art.name.endswith(f"-{art.lang}.txt") and _words(art.text) >= 100
        parts = [x if x.endswith(".") else x + "." for x in art.text.split(". ")]
        assert set(parts) <= set(POOL[art.lang])
    assert {art.lang for art in a} == {"en", "sq"}
    assert len({art.name for art in a}) == len(a)


def test_a_corpus_needs_at_least_one_passage():
    with pytest.raises(InputError, match="at least 1"):
        bench.make_corpus(POOL, 0, seed=8, count_tokens=_words)


def test_writing_the_corpus_only_touches_changed_files(tmp_path):
    arts = bench.make_corpus(POOL, 10, seed=8, count_tokens=_words, article_tokens=100)
    folder = bench.write_corpus(tmp_path / "c", arts)
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(first) == sorted(a.name for a in arts)
    bench.write_corpus(folder, arts)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == first
    assert (folder / arts[0].name).read_text(encoding="utf-8") == arts[0].text


def test_median_percentile_and_ratio():
    assert bench.median([3.0, 1.0, 2.0]) == 2.0 and bench.median([1.0, 2.0]) == 1.5
    assert bench.percentile(list(range(1, 101)), 50) == pytest.approx(50.5)
    assert bench.percentile([10.0] * 19 + [100.0], 95) == pytest.approx(14.5)
    assert bench.ratio(3.0, 1.5) == 2.0 and bench.ratio(1.0, 0.0) is None
    with pytest.raises(ValueError):
        bench.median([])


def test_recall_counts_the_exact_neighbours_found():
    exact = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    assert bench.recall_at(exact, exact, 4) == 1.0
    assert bench.recall_at([["a", "b", "x", "y"], ["h", "g", "f", "e"]], exact, 4) == pytest.approx(0.75)
    assert bench.recall_at([["a", "x"], ["y", "z"]], exact, 2) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        bench.recall_at([["a"]], exact, 1)


def test_exact_search_ranks_by_cosine():
    m = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0], [0, 0, 5]], dtype=np.float32)
    q = np.array([[1, 0.05, 0], [0, 0, 1]], dtype=np.float32)
    top = bench.exact_top(m, q, 2)
    assert top.shape == (2, 2) and top[0].tolist() == [0, 2] and top[1][0] == 3  # length does not count


def test_derived_vectors_keep_the_real_ones_and_add_close_noisy_copies():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(50, 384)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    out = bench.derive(real, 175, bench.NOISE, seed=8)
    assert out.shape == (175, 384) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.allclose(out[:50], real, atol=1e-6)
    cos = (out[50:] * real[np.arange(50, 175) % 50]).sum(1)
    assert 0.85 < cos.min() and cos.max() < 0.999  # near their source, never a duplicate
    assert np.array_equal(out, bench.derive(real, 175, bench.NOISE, seed=8))


@pytest.mark.parametrize("argv, message", [
    (["--passages", "0"], "at least 1"),
    (["--runs", "two"], "at least 1"),
    (["--sizes", "1000,abc"], "separated by commas"),
    (["--kill-after", "-5"], "above 0"),
    (["warp"], "invalid choice"),
])
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_query_without_a_scale_store_says_what_to_run(tmp_path, capsys):
    assert bench.main(["query", "--work", str(tmp_path), "--passages", "50", "--no-server"]) == 1
    err = capsys.readouterr().err
    assert "no scale store" in err and "python -m evals bench scale --passages 50" in err
    assert not (tmp_path / "scale-50").exists()


def test_the_table_shows_figure_value_and_target():
    text = bench.table({"scale": {"passages": 10000, "killed_after_s": 120.0, "end_to_end_min": 11.5,
                                  "passages_per_s": 14.5, "stored_when_killed": 2048, "exact_passage_set": True,
                                  "unchanged_s": 9.0, "unchanged_report": {"embedded": 0}, "unchanged_share": 0.013,
                                  "peak_rss_mb": 812.0}})
    lines = text.splitlines()
    assert lines[0].startswith("| figure") and "measured" in lines[0] and "target" in lines[0]
    assert "11.5 min (14.5 passages/s)" in text and "<= 12 min" in text and "2,048 / yes" in text
    assert "0 embedded (1.3% of the first)" in text and "812 MB" in text
    assert len({line.count("|") for line in lines}) == 1



class _Clock:
    """An engine whose 'work' is a fixed sleep per text, and a record of the order it was called in."""

    def __init__(self, name: str, calls: list, per_text: float) -> None:
        self.name, self.calls, self.per_text = name, calls, per_text

    def passage(self, texts):
        import time

        self.calls.append((self.name, len(texts)))
        time.sleep(self.per_text * len(texts))
        return np.zeros((len(texts), 384), dtype=np.float32)


def test_engines_are_timed_batch_by_batch_in_turn():
    calls: list = []
    engines = {"a": _Clock("a", calls, 0.0), "b": _Clock("b", calls, 0.0005)}
    texts = [f"text {i:03d}" + "x" * i for i in range(40)]
    seconds = bench.paired_seconds(engines, texts)
    assert [c[0] for c in calls] == ["a", "b", "b", "a", "a", "b"]  # ABBA: 3 batches of 16, 16, 8
    assert [c[1] for c in calls] == [16, 16, 16, 16, 8, 8]
    assert set(seconds) == {"a", "b"} and seconds["b"] > seconds["a"] >= 0
