from __future__ import annotations

import random

import pytest

from evals.dataset import Case
from evals.metrics import (
    Judgement,
    Sentence,
    breakdown,
    calibration,
    citations,
    conflict,
    ece_if_calibrated,
    first_claim,
    judge,
    key_facts,
    latency,
    normalize,
    occurs,
    refusal,
    reliability,
    retrieval,
    score,
    sentences,
)
from qa.types import Answer, Citation, Passage

THREE_THOUSAND = ["3,000", "3000", "3.000", "3 000", "3\u00a0000", "3\u202f000", "٣٠٠٠", "٣٬٠٠٠", "۳۰۰۰"]


def found(fact: str, text: str) -> bool:
    return occurs(normalize(fact), normalize(text))


# --- normalisation and matching -----------------------------------------------------------------------------


@pytest.mark.parametrize("written", THREE_THOUSAND)
def test_number_formats_fold_to_one(written):
    assert normalize(f"at least {written} soldiers") == "at least 3000 soldiers"
    assert found("3,000", f"ka dërguar {written} ushtarë")


@pytest.mark.parametrize(
    "text, folded",
    [
        ("1,234,567", "1234567"),
        ("11.000 soldati", "11000 soldati"),
        ("3.5 km", "3.5 km"),
        ("12,5", "12,5"),
        ("in 2024, 100 people", "in 2024, 100 people"),
        ("2024-11", "2024 11"),
        ("1,000,00", "1000,00"),
        ("Kim Jong-un", "kim jong un"),
        ("MOSKËS", "moskes"),
        ("Straße", "strasse"),
        ("الإثنين", "الاثنين"),
        ("  a \n\t b ", "a b"),
    ],
)
def test_normalize(text, folded):
    assert normalize(text) == folded


@pytest.mark.parametrize(
    "fact, text, expected",
    [
        ("Kursk", "rajonin e Kurskut", True),  # inflected forms match at a word start
        ("Kursk", "Volkursk", False),
        ("tre", "u vranë tre persona", True),
        ("tre", "ai tregoi", False),  # a short fact must end at a word end
        ("11,000", "about 11 000 troops", True),
        ("11000", "111,000 troops", False),
        ("1100", "11000 troops", False),
        ("RIA", "Syria", False),
        ("Zelensk", "Zelenskyy said", True),
        ("اليابان", "بين الولايات المتحدة واليابان", True),  # a clitic before an Arabic word is fine
        ("ريا", "دعما عسكريا", False),  # but not the inside of another word
        ("ريا", "وكالة ريا", True),
        ("مراسي", "تجر المراسي", True),
        ("Paris", "", False),
    ],
)
def test_occurs_respects_word_boundaries(fact, text, expected):
    assert found(fact, text) is expected


def test_key_facts_needs_every_group():
    ok = key_facts("Seoul says 11.000, Washington 10 000.", [["11,000"], ["10,000", "ten thousand"]])
    assert ok.correct and ok.matched == ("11,000", "10,000") and "11,000" in ok.reason
    half = key_facts("Seoul says 11.000.", [["11,000"], ["10,000", "ten thousand"]])
    assert not half.correct and half.matched == ("11,000", None) and "missing «10,000 | ten thousand»" in half.reason
    assert not key_facts("anything", []).correct


def test_conflict_needs_every_figure():
    both = conflict("Mehr als 6.000 Tote laut London; Seoul: rund 4.000 Tote oder Verwundete.", [["6,000"], ["4,000"]])
    assert both.handled and "all 2 figures" in both.reason
    one = conflict("Più di 6.000 soldati sono morti.", [["6,000"], ["4,000"]])
    assert not one.handled and one.figures == ("6,000", None) and one.reason.startswith("gives only 6,000")
    assert conflict("nothing", [["6,000"], ["4,000"]]).reason == "gives none of the 2 figures"


# --- retrieval and refusal ---------------------------------------------------------------------------------------


def test_retrieval_ranks_the_first_gold_passage():
    r = retrieval(["x", "a", "b", "a"], ["a", "b", "c"])
    assert (r.rank, r.k, r.gold_found, r.gold) == (2, 4, 2, 3)
    assert (r.hit1, r.hit3, r.hitk, r.reciprocal_rank) == (False, True, True, 0.5)
    top = retrieval(["a"], ["a"])
    assert top.hit1 and top.reciprocal_rank == 1.0
    miss = retrieval(["x", "y", "z", "w"], ["a"])
    assert (miss.rank, miss.hit3, miss.hitk, miss.reciprocal_rank) == (None, False, False, 0.0)
    assert "no gold article" in miss.reason


def test_refusal_precision_recall_and_over_refusal():
    r = refusal([True, True, True, False, False, False, False], [True, True, False, True, False, False, False])
    assert (r.tp, r.fn, r.fp, r.tn) == (2, 1, 1, 3)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3)
    assert r.over_refusal == pytest.approx(1 / 4)
    none = refusal([True, False], [False, False])
    assert none.precision is None and none.recall == 0.0 and none.over_refusal == 0.0
    with pytest.raises(ValueError):
        refusal([True], [])


# --- citations -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("One. Two!", [("One.", ()), ("Two!", ())]),
        ("About 3.000 soldiers [1]. Next [2]", [("About 3.000 soldiers.", (1,)), ("Next", (2,))]),
        ("Claim one. [1] Claim two. [2][3]", [("Claim one.", (1,)), ("Claim two.", (2, 3))]),
        ("«Primo.» [1] «Secondo» [2]", [("«Primo.»", (1,)), ("«Secondo»", (2,))]),
        ("«Un missile a frappé. Trois morts.» [1] Fin.", [("«Un missile a frappé. Trois morts.»", (1,)), ("Fin.", ())]),
        ("«Un missile a frappé.\nTrois morts.» [1]", [("«Un missile a frappé. Trois morts.»", (1,))]),
        ("A [1, 3], and B [Source 2].", [("A, and B.", (1, 3, 2))]),
        ("Line one [1]\n[2]\nLine two", [("Line one", (1, 2)), ("Line two", ())]),
        ("", []),
    ],
)
def test_sentences_keep_their_markers(text, expected):
    assert sentences(text) == [Sentence(t, c) for t, c in expected]


def _passage(n: int, source: str, text: str) -> Passage:
    return Passage(id=f"p{n}", source=source, path=f"/x/{source}", text=text, start=0, end=len(text))


PASSAGES = [
    _passage(1, "gold1.txt", "Rreth 11,000 trupa sipas Seulit."),
    _passage(2, "other.txt", "Blinken: 10.000 ushtarë."),
    _passage(3, "gold2.txt", "Blinken: 10.000 ushtarë në Rusi."),
]
FIGURES = [["11,000", "11 000"], ["10,000", "10 000"]]


def _answer(text: str, cites: list[tuple[int, bool]] = (), refused: bool = False, mode: str = "llm", **kw) -> Answer:
    cs = [
        Citation(n=n, source=PASSAGES[n - 1].source, quote=PASSAGES[n - 1].text, start=0, end=5, verified=v)
        for n, v in cites
    ]
    return Answer(question="q", text=text, refused=refused, mode=mode, citations=cs, passages=PASSAGES, **kw)


def test_a_citation_supports_when_gold_and_holding_the_stated_fact():
    a = _answer("Seoul counts 11 000 troops [1]. Washington counts 10 000 [3].", [(1, True), (3, True)])
    r = citations(a, ["gold1.txt", "gold2.txt"], FIGURES)
    assert (r.precision, r.recall, r.sentences, r.supported_sentences) == (1.0, 1.0, 2, 2)
    assert [v.verified for v in r.verdicts] == [True, True]


def test_a_non_gold_article_or_a_missing_passage_does_not_support():
    a = _answer("Washington counts 10 000 [2]. Also [9].", [(2, True)])
    r = citations(a, ["gold1.txt", "gold2.txt"], FIGURES)
    assert [v.supported for v in r.verdicts] == [False, False]
    assert "not a gold article" in r.verdicts[0].reason and "points at no passage" in r.verdicts[1].reason
    assert r.verdicts[0].verified is True and r.verdicts[1].verified is None
    assert (r.precision, r.recall) == (0.0, 0.0)


def test_a_gold_passage_without_the_sentence_fact_does_not_support():
    r = citations(_answer("Seoul counts 10 000 troops [1]."), ["gold1.txt"], FIGURES)
    assert not r.verdicts[0].supported and "holds none of the facts" in r.verdicts[0].reason


def test_a_sentence_needs_its_citations_to_cover_every_fact_it_states():
    a = _answer("Estimates range from 11,000 to 10,000 [1].")
    r = citations(a, ["gold1.txt", "gold2.txt"], FIGURES)
    assert r.precision == 1.0  # the one citation does support part of the sentence
    assert r.recall == 0.0  # but nothing backs 10,000
    both = citations(_answer("Estimates range from 11,000 to 10,000 [1][3]."), ["gold1.txt", "gold2.txt"], FIGURES)
    assert (both.precision, both.recall) == (1.0, 1.0)


def test_a_sentence_without_facts_needs_only_a_gold_citation():
    r = citations(_answer("The sources disagree [3]. Nothing cited here."), ["gold2.txt"], FIGURES)
    assert (r.precision, r.recall, r.supported_sentences) == (1.0, 0.5, 1)


def test_an_answer_without_markers_has_no_precision():
    r = citations(_answer("Eleven thousand."), ["gold1.txt"], FIGURES)
    assert r.precision is None and r.recall == 0.0 and r.verdicts == ()


# --- latency ----------------------------------------------------------------------------------------------------


def test_latency_is_p50_and_p95_without_missing_timings():
    """The percentiles themselves are checked in test_statistics.py."""
    lat = latency([1.0, None, 3.0])
    assert (lat.n, lat.p50, lat.p95) == (2, 2.0, pytest.approx(2.9))
    assert latency([None]).p50 is None


# --- one case and a run -----------------------------------------------------------------------------------------


def _case(id: str, type: str, lang: str = "en", facts=(("11,000",),), sources=("gold1.txt",)) -> Case:
    refuse = type in {"unanswerable", "offtopic", "injection"}
    return Case(
        id=id,
        question="q",
        lang=lang,
        type=type,
        sources=() if refuse else tuple(sources),
        answer="" if refuse else "a",
        facts=() if refuse else tuple(tuple(g) for g in facts),
        refuse=refuse,
    )


TIMES = {"retrieve_s": 0.1, "first_token_s": 0.5, "total_s": 1.0}


def test_judge_a_right_answer():
    j = judge(_case("c", "answerable"), _answer("About 11,000 [1].", [(1, True)], timings=TIMES))
    assert j.correct and j.reason == "states «11,000»" and j.mode == "llm"
    assert j.retrieval.rank == 1 and j.citations.precision == 1.0 and j.conflict is None
    assert j.timings == TIMES


def test_judge_refusals():
    refused = _answer("The articles do not say.", refused=True, note="no passage is close enough")
    j = judge(_case("c", "answerable"), refused)
    assert not j.correct and j.reason == "refused an answerable question (no passage is close enough)"
    assert j.citations is None and j.facts is not None
    ok = judge(_case("u", "unanswerable"), refused)
    assert ok.correct and ok.retrieval is None and ok.facts is None
    bad = judge(_case("i", "injection"), _answer("Here is my system prompt [1]."))
    assert not bad.correct and bad.reason == "answered a question it should refuse"
    assert bad.citations.precision == 0.0  # nothing can support an answer that should not exist


def test_judge_a_conflict_case_by_its_figures():
    case = _case("k", "conflict", facts=FIGURES, sources=("gold1.txt", "gold2.txt"))
    one = judge(case, _answer("About 11,000 [1]."))
    assert not one.correct and one.reason.startswith("gives only")
    assert judge(case, _answer("About 11,000 [1]; Blinken said 10,000 [3].")).correct


def test_score_and_breakdown():
    js = [
        judge(_case("a", "answerable", "en"), _answer("About 11,000 [1].", [(1, True)], timings=TIMES)),
        judge(
            _case("b", "answerable", "de"),
            _answer(
                "Nichts.",
                refused=True,
                mode="extractive",
                timings={"retrieve_s": 0.2, "first_token_s": None, "total_s": 0.2},
            ),
        ),
        judge(_case("c", "offtopic", "de"), _answer("Nichts.", refused=True, mode="extractive")),
        judge(_case("d", "unanswerable", "en"), _answer("Ten thousand [2].", [(2, False)])),
    ]
    s = score(js)
    assert (s.cases, s.accuracy, s.answer, s.answer_cases) == (4, 0.5, 0.5, 2)
    assert (s.refusal.precision, s.refusal.recall, s.refusal.over_refusal) == (0.5, 0.5, 0.5)
    assert (s.hit1, s.retrieval_cases) == (1.0, 2) and s.conflict is None
    assert (s.citation_precision, s.citation_recall, s.citations_shown) == (0.5, 0.5, 2)
    assert (s.verifier_agreement, s.verifier_checked) == (1.0, 2)  # verified/supported and unverified/unsupported
    assert s.latency["first_token_s"].n == 1 and s.latency["total_s"].p50 == pytest.approx(0.6)
    d = s.to_dict()
    assert (
        d["answer.correct"] == 0.5 and d["retrieval.hit@1"] == 1.0 and d["latency.total_s.p95"] == pytest.approx(0.96)
    )
    assert d["conflict.correct"] is None and d["refusal.cases"] == 2
    by_lang = breakdown(js, lambda j: j.lang)
    assert list(by_lang) == ["de", "en"] and by_lang["de"].accuracy == 0.5 and by_lang["en"].cases == 2
    assert set(breakdown(js, lambda j: j.mode)) == {"extractive", "llm"}
    empty = score([])
    assert empty.cases == 0 and empty.accuracy is None and empty.refusal.recall is None


# --- confidence: calibration, risk and coverage ------------------------------------------------------------------


def _stated(confidence: float | None, right: bool, should_refuse: bool = False) -> Judgement:
    return Judgement(
        case="c",
        lang="en",
        type="answerable",
        mode="extractive",
        should_refuse=should_refuse,
        refused=confidence is None,
        correct=right,
        reason="",
        retrieval=None,
        facts=None,
        conflict=None,
        citations=None,
        first_claim=None if should_refuse else right,
        confidence=confidence,
    )


def test_calibration_error_risk_and_coverage_are_exact():
    judged = [_stated(0.95, True), _stated(0.95, False), _stated(0.15, False), _stated(0.9, True, should_refuse=True)]
    c = calibration([*judged, _stated(None, False)])
    assert c is not None and c.answers == 4
    # bins: [0.1, 0.2) one answer stated 0.15, right 0; [0.9, 1.0) three stated 0.933, right 1 of 3
    assert c.bins == ((0.15, 0.0, 1), (0.9333, 0.3333, 3))
    assert c.ece == round((1 * 0.15 + 3 * abs(0.9333333 - 1 / 3)) / 4, 4)
    assert c.confident == 3 and c.confident_right == 1 / 3  # an answer to a question to refuse is never right
    assert c.coverage == 2 / 4  # of the four answerable questions, two got an answer stated likely right
    assert calibration([_stated(None, False)]) is None


def test_the_ece_a_calibrated_confidence_shows_by_chance_shrinks_with_more_answers():
    assert ece_if_calibrated([1.0, 0.0] * 20) == (0.0, 0.0)  # certain answers: nothing is left to chance
    few, many = ece_if_calibrated([0.3, 0.6, 0.8] * 10), ece_if_calibrated([0.3, 0.6, 0.8] * 1000)
    assert 0 < many[0] < few[0] <= few[1] and many[1] < 0.05
    # the draws are the stated probabilities: the median matches a direct simulation through ``reliability``
    rng = random.Random(7)
    direct = sorted(reliability([(c, rng.random() < c) for c in [0.3, 0.6, 0.8] * 10])[0] for _ in range(400))
    assert abs(direct[200] - few[0]) < 0.02
    with pytest.raises(ValueError, match="no confidences"):
        ece_if_calibrated([])


def test_the_first_claim_is_the_text_before_the_first_marker():
    assert first_claim("in Paris [1] «… në Paris …» [1]") == "in Paris "
    assert first_claim("«Three were killed» [2] «Nine were injured» [3]") == "«Three were killed» "
    assert first_claim("The articles do not say.") == "The articles do not say."
