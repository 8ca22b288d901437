"""Scoring a selector on labelled pools: accuracy, refusal, and how far its stated confidence can be trusted."""

from __future__ import annotations

import numpy as np
import pytest

from evals.selection import Pool, score
from qa.select import INTERACTIONS, SCALAR_FEATURES, Candidate, Selector

DIM = 384


def _unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def _pool(labels: list[float]) -> Pool:
    q = _unit(0)
    close = Candidate("Close to the question.", "en", q, q, 0.9)
    far = Candidate("About something else.", "en", _unit(1), _unit(1), 0.1)
    return Pool("A question?", "en", q, [close, far], np.asarray(labels), paragraph=0)


def test_confidence_is_scored_against_whether_the_first_choice_answers():
    weights = np.zeros(len(SCALAR_FEATURES) + DIM * len(INTERACTIONS), dtype=np.float32)
    weights[SCALAR_FEATURES.index("cosine")] = 10.0
    weights[SCALAR_FEATURES.index("bias")] = -5.0
    # confidence = the best candidate's own probability (weight 1 on its logit, nothing else)
    selector = Selector(weights, threshold=0.5, calibration=np.array([1.0, 0.0, 0.0]))
    right, wrong = _pool([1.0, 0.0]), _pool([0.0, 1.0])
    scores = score(selector, [right, wrong], [_pool([0.0, 0.0])])
    top = 1 / (1 + np.exp(-5.0))  # the close candidate: cosine 1
    assert scores.accuracy == 0.5
    assert scores.refusal_recall == 0.0  # the removed pool's close candidate clears the threshold
    # three answers stated at `top`, one of them right
    assert scores.ece == pytest.approx(abs(top - 1 / 3), abs=1e-4)
    assert scores.confident_right == pytest.approx(1 / 3)
    assert scores.confident_coverage == 1.0
    assert sorted(scores.stated) == sorted([(top, True), (top, False), (top, False)])
    assert "stated" not in scores.to_dict()


def test_a_joined_question_follows_one_of_its_article_and_knows_that_one_s_answer(embedder):
    from evals.selection import TRAIN_ARTICLES, earlier_answers, joined_questions, questions, read, sentences
    from evals.xquad import DEFAULT_DATA

    paragraphs, items, article_of = read(DEFAULT_DATA, "en", range(TRAIN_ARTICLES.start, TRAIN_ARTICLES.start + 1))
    q = questions(embedder, "en", items)
    joined = joined_questions(embedder, q, article_of)
    n = len(q.texts)
    assert len(joined.texts) == n and len(joined.earlier) == n
    for i in range(n):
        e = joined.earlier[i]
        assert e != i and joined.texts[i] == f"{q.texts[e]} {q.texts[i]}"
        others_here = [j for j in range(n) if j != i and int(q.paragraph[j]) == int(q.paragraph[i])]
        if i % 2 == 0 and others_here:
            assert e in others_here  # a follow-up on the same passage
        elif i % 2 == 1 and len(others_here) < n - 1:
            assert e not in others_here  # the next fact of the story
    sents = {"en": sentences(embedder, "en", paragraphs)}
    seen = earlier_answers(joined, sents, {"en": [a for _, _, a in items]})
    # The sentence the earlier question is said to be answered by holds the first word of its answer.
    for i in range(0, n, 5):
        e = joined.earlier[i]
        first_word = paragraphs[items[e][1]][items[e][2] :].split()[0]
        assert len(seen[i]) == 1 and first_word in next(iter(seen[i]))
