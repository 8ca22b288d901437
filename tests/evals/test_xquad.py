from __future__ import annotations

import json
import math

import pytest

from evals import xquad
from evals.metrics import retrieval
from evals.xquad import mrr, ndcg_at, recall_at_k, retrieval_scores, spread
from qa.embed import Embedder


def _squad(path, lang: str, paragraphs: list[tuple[str, list[tuple[str, str]]]]) -> None:
    doc = {
        "version": "1.1",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {"context": ctx, "qas": [{"id": qid, "question": q, "answers": []} for qid, q in qas]}
                    for ctx, qas in paragraphs
                ],
            }
        ],
    }
    (path / f"xquad.{lang}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def test_recall_counts_gold_within_k():
    ranks = [1, 2, 5, 6, None]
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 5)
    assert recall_at_k(ranks, 5) == pytest.approx(3 / 5)
    assert recall_at_k(ranks, 50) == pytest.approx(4 / 5)


def test_mrr_counts_missing_as_zero():
    assert mrr([1, 2, 4, None]) == pytest.approx((1 + 1 / 2 + 1 / 4 + 0) / 4)


def test_ndcg_with_one_relevant_item():
    assert ndcg_at([1], 10) == 1.0
    assert ndcg_at([3], 10) == pytest.approx(1 / math.log2(4))
    assert ndcg_at([11, None], 10) == 0.0
    assert ndcg_at([1, 2], 10) == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_metrics_of_nothing_are_zero():
    assert retrieval_scores([]).to_dict() == {"n": 0, "recall@1": 0.0, "recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}


def test_score_from_rankings():
    rankings = [["p1", "p2"], ["p2", "p1"], ["p3", "p4"]]
    gold = ["p1", "p1", "p9"]
    s = retrieval_scores([retrieval(r, [g]).rank for r, g in zip(rankings, gold)])
    assert (s.n, s.recall_1, s.recall_5) == (3, pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert s.mrr == pytest.approx(0.5)


def test_spread_takes_evenly_spaced_items():
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread(list(range(3)), 5) == [0, 1, 2]
    assert spread(list(range(3)), None) == [0, 1, 2]


class _LengthEngine:
    """Embeds a text as (its length, 1 for a query, 0, ...), so order and kind can be checked."""

    def passage(self, texts):
        return [[len(t), 0.0] + [0.0] * 382 for t in texts]

    def query(self, texts):
        return [[len(t), 1.0] + [0.0] * 382 for t in texts]


def test_embed_keeps_the_order_of_the_texts_across_slices(monkeypatch):
    monkeypatch.setattr(xquad, "SLICE", 2)
    texts = ["ccc", "a", "bbbbb", "dd", "a"]
    vectors = xquad.embed(Embedder(engine=_LengthEngine()), texts, "test")
    assert vectors[:, 0].tolist() == [3, 1, 5, 2, 1] and not vectors[:, 1].any()
    assert (xquad.embed(Embedder(engine=_LengthEngine()), texts, "test", query=True)[:, 1] == 1).all()
    assert xquad.embed(Embedder(engine=_LengthEngine()), [], "test").shape == (0, 384)


def test_load_maps_each_question_to_its_paragraph(tmp_path):
    _squad(tmp_path, "xx", [("Alpha text.", [("q1", " Who? "), ("q2", "What?")]), ("Beta text.", [("q3", "Where?")])])
    xq = xquad.load(tmp_path, "xx")
    assert [p.text for p in xq.paragraphs] == ["Alpha text.", "Beta text."]
    assert [q.text for q in xq.questions] == ["Who?", "What?", "Where?"]
    assert xq.gold == {"q1": xq.paragraphs[0].id, "q2": xq.paragraphs[0].id, "q3": xq.paragraphs[1].id}


def test_unknown_language_and_bad_json_are_clear_errors(tmp_path, capsys):
    _squad(tmp_path, "en", [("Alpha.", [("q1", "Who?")])])
    (tmp_path / "xquad.bad.json").write_text("{not json", encoding="utf-8")
    assert xquad.main(["--data", str(tmp_path), "--passages", "fr", "--store", "memory"]) == 1
    err = capsys.readouterr().err
    assert "no XQuAD file for 'fr'" in err and "found: bad, en" in err
    assert xquad.main(["--data", str(tmp_path), "--passages", "bad", "--store", "memory"]) == 1
    assert "is not SQuAD JSON" in capsys.readouterr().err
    assert xquad.main(["--data", str(tmp_path / "nowhere"), "--store", "memory"]) == 1
    assert "no folder" in capsys.readouterr().err


def test_a_file_without_paragraphs_is_refused(tmp_path, capsys):
    _squad(tmp_path, "en", [])
    assert xquad.main(["--data", str(tmp_path), "--store", "memory"]) == 1
    assert "has no paragraphs" in capsys.readouterr().err


def test_questions_without_a_paragraph_in_the_other_language_are_refused(tmp_path, capsys):
    _squad(tmp_path, "en", [("Alpha.", [("q1", "Who?")])])
    _squad(tmp_path, "de", [("Alpha.", [("q2", "Wer?")])])
    assert xquad.main(["--data", str(tmp_path), "--questions", "en", "--passages", "de", "--store", "memory"]) == 1
    assert "have no paragraph in xquad.de.json" in capsys.readouterr().err


def test_matrix_with_a_single_pair_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        xquad.main(["--matrix", "--passages", "en"])
    assert e.value.code == 2


@pytest.mark.parametrize("bad", ["0", "-3", "x"])
def test_limit_must_be_positive(bad):
    with pytest.raises(SystemExit):
        xquad.main(["--limit", bad])


needs_data = pytest.mark.skipif(
    not (xquad.DEFAULT_DATA / "xquad.en.json").exists(), reason=f"XQuAD data not at {xquad.DEFAULT_DATA}"
)


@pytest.mark.slow
@needs_data
def test_real_run_through_chroma_finds_the_paragraphs(tmp_path):
    """30 questions, en → en and en → ar, through a real Chroma collection and ``Assistant.search``."""
    out = tmp_path / "reports" / "xquad.json"
    assert xquad.main(["--questions", "en", "--passages", "en", "--limit", "30", "--out", str(out)]) == 0
    en = json.loads(out.read_text(encoding="utf-8"))
    assert xquad.main(["--questions", "en", "--passages", "ar", "--limit", "30", "--out", str(out)]) == 0
    ar = json.loads(out.read_text(encoding="utf-8"))
    for result, lang in ((en, "en"), (ar, "ar")):
        assert {"embedder", "store", "depth", "indexes", "runs", "seconds"} <= result.keys()
        assert result["store"] == "chroma" and result["indexes"][lang]["paragraphs"] == 240
        (r,) = result["runs"]
        assert (r["questions"], r["passages"], r["n"]) == ("en", lang, 30)
        assert {"recall@1", "recall@5", "mrr@10", "ndcg@10", "seconds"} <= r.keys()
        assert r["recall@5"] > 0.6
        assert r["recall@1"] <= r["recall@5"] and r["mrr@10"] <= 1.0
    assert en["runs"][0]["recall@5"] > 0.9


@pytest.mark.slow
@needs_data
def test_memory_store_ranks_by_the_embedder_alone(tmp_path):
    out = tmp_path / "memory.json"
    assert xquad.main(["--passages", "en", "--limit", "30", "--store", "memory", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    (r,) = result["runs"]
    assert result["store"] == "memory" and r["n"] == 30 and r["recall@5"] > 0.9


def test_pooled_calibration_reads_every_pair_s_answers_together():
    # two pairs: one stated 0.9 and right 9 times of 10, one stated 0.3 and right 3 times of 10
    stated = [(0.9, i < 9) for i in range(10)] + [(0.3, i < 3) for i in range(10)]
    pooled = xquad.pooled_calibration(stated)
    assert pooled["answers"] == 20 and pooled["ece"] == 0.0
    assert [b[2] for b in pooled["bins"]] == [10, 10]
    median, p95 = pooled["ece_if_calibrated"]
    assert 0 < median <= p95
    assert xquad.pooled_calibration([]) == {"answers": 0, "ece": None, "ece_if_calibrated": None, "bins": []}


@pytest.mark.slow
@needs_data
def test_answers_on_the_test_quarter_report_the_pooled_calibration_and_draw_it(tmp_path, capsys):
    out = tmp_path / "answers.json"
    args = ["--answers", "--mixed", "--questions", "en", "--passages", "de", "--limit", "40", "--out", str(out)]
    assert xquad.main(args) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    (run,) = result["runs"].values()
    pooled = result["pooled"]
    assert run["questions"] == 40 and "stated" not in run
    assert pooled["answers"] == sum(b[2] for b in pooled["bins"]) > 0
    assert 0.0 <= pooled["ece"] <= 1.0
    assert "all pairs pooled" in capsys.readouterr().out
    assert out.with_suffix(".reliability.png").read_bytes()[:4] == b"\x89PNG"
