"""The answer selector: its features, its decision, and questions in languages XQuAD does not have."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.sync import sync
from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES
from qa.select import (
    INTERACTIONS,
    SCALAR_FEATURES,
    Candidate,
    Selector,
    confidence_features,
    context_vectors,
    features,
    neighbour,
)
from qa.store import open_store


def _candidate(embedder, text: str, lang: str) -> Candidate:
    v = embedder.passages([text])[0]
    return Candidate(text, lang, v, v, 0.8)


def test_features_say_what_a_sentence_adds_and_in_which_language(embedder):
    q = "How many soldiers were sent?"
    qv = embedder.queries([q])[0]
    cands = [
        _candidate(embedder, "North Korea sent soldiers to Russia.", "en"),
        _candidate(embedder, "Koreja e Veriut ka dërguar 3,000 ushtarë në Rusi, tha Seuli.", "sq"),
    ]
    x = features(q, qv, cands, "en")
    assert x.shape == (2, len(SCALAR_FEATURES) + len(INTERACTIONS) * 384)
    col = {name: i for i, name in enumerate(SCALAR_FEATURES)}
    assert x[0, col["new_figure"]] == 0 and x[1, col["new_figure"]] == 1
    assert x[0, col["same_language"]] == 1 and x[1, col["same_language"]] == 0
    assert x[1, col["new_name"]] == 1  # "Seuli" is named; the question names nobody
    assert np.allclose(x[:, col["bias"]], 1)
    assert features(q, qv, [], "en").shape[0] == 0


def test_context_vectors_join_neighbours_of_the_same_passage_only():
    v = np.eye(3, dtype=np.float32)
    ctx = context_vectors(v, [0, 0, 1])
    assert np.allclose(ctx[0], np.array([1, 1, 0]) / np.sqrt(2))
    assert np.allclose(ctx[2], [0, 0, 1])  # another passage: no neighbour


def test_the_selection_refuses_below_the_threshold():
    selector = Selector(np.zeros(len(SCALAR_FEATURES) + len(INTERACTIONS) * 384, dtype=np.float32), 0.6)
    x = np.zeros((2, len(selector.weights)), dtype=np.float32)
    assert np.allclose(selector.probabilities(x), 0.5)


def test_a_sentence_a_model_chose_comes_first_and_answers_whatever_its_score(embedder):
    selector = Selector(np.zeros(len(SCALAR_FEATURES) + len(INTERACTIONS) * 384, dtype=np.float32), 0.6)
    texts = [
        "Lavrov met Choe Son Hui in Moscow on Friday.",
        "Lavrov met Choe Son Hui in Moscow on Friday!",
        "It rained.",
    ]
    cands = [_candidate(embedder, t, "en") for t in texts]
    q = "Where did Lavrov meet Choe Son Hui?"
    sel = selector.select(q, embedder.queries([q])[0], cands, "en")
    assert not sel.answered  # 0.5 for every candidate, under the threshold 0.6
    chosen = sel.chosen(2, cands)
    assert chosen.order[0] == 2 and sorted(chosen.order) == [0, 1, 2] and chosen.answered and chosen.read
    assert chosen.rival == 0.5  # the others say something else than the chosen one


def test_a_joined_search_is_judged_with_the_threshold_and_calibration_of_joined_searches(embedder):
    size = len(SCALAR_FEATURES) + len(INTERACTIONS) * 384
    calibration, joined = np.array([1.0, 2.0, 0.0]), np.array([0.5, 1.0, -1.0])
    selector = Selector(np.zeros(size, dtype=np.float32), 0.4, calibration, 0.6, joined)
    cands = [_candidate(embedder, "Lavrov met Choe Son Hui in Moscow on Friday.", "en")]
    q = "Where did Lavrov meet Choe Son Hui? And when?"
    alone = selector.select(q, embedder.queries([q])[0], cands, "en")
    followup = selector.select(q, embedder.queries([q])[0], cands, "en", joined=True)
    assert np.array_equal(alone.scores, followup.scores)  # the same weights: the same choice
    assert alone.answered and not followup.answered  # 0.5 clears 0.4, not 0.6
    assert followup.confidence < alone.confidence
    # A selector trained before joined searches had their own figures judges them like any other.
    plain = Selector(np.zeros(size, dtype=np.float32), 0.4, calibration)
    assert plain.as_joined() is plain and plain.select(q, embedder.queries([q])[0], cands, "en", joined=True).answered


def test_a_follow_up_ranks_the_sentence_the_previous_answer_quoted_below_one_scored_alike(embedder):
    selector = Selector(np.zeros(len(SCALAR_FEATURES) + len(INTERACTIONS) * 384, dtype=np.float32), 0.1)
    texts = ["Three people were killed in Dnipro.", "Nine people were injured in Dnipro."]
    cands = [_candidate(embedder, t, "en") for t in texts]
    q = "How many people died in Dnipro? And how many were injured?"
    qv = embedder.queries([q])[0]
    assert selector.select(q, qv, cands, "en").order[0] == 0  # a tie: the first stays first
    followup = selector.select(q, qv, cands, "en", joined=True, seen=["Three  people were killed in Dnipro."])
    assert followup.order[0] == 1 and followup.scores[0] < followup.scores[1]
    # Only a follow-up: a question asked outright is not judged by what was said before it.
    assert selector.select(q, qv, cands, "en", seen=[texts[0]]).order[0] == 0


def test_the_shipped_selector_is_less_sure_of_a_joined_search_with_the_same_scores():
    selector = Selector.load()
    assert selector.joined_threshold is not None and selector.joined_calibration is not None
    features_ = confidence_features(0.9, 0.2)
    assert features_ @ selector.joined_calibration < features_ @ selector.calibration


def test_a_heading_or_a_caption_ranks_below_a_sentence_the_selector_scores_alike(embedder):
    selector = Selector(np.zeros(len(SCALAR_FEATURES) + len(INTERACTIONS) * 384, dtype=np.float32), 0.4)
    caption = "Foreign Minister Sergei Lavrov with Choe Son Hui in Moscow Photo: Maxim Shemetov/AFP"
    sentence = "Lavrov met Choe Son Hui in Moscow on Friday."
    q = "Where did Lavrov meet Choe Son Hui?"
    sel = selector.select(
        q, embedder.queries([q])[0], [_candidate(embedder, t, "en") for t in (caption, sentence)], "en"
    )
    # every feature weighs nothing, so both score 0.5 but for the caption's penalty
    assert sel.order == [1, 0] and sel.scores[1] == 0.5 and sel.scores[0] == pytest.approx(1 / (1 + np.e))


@pytest.mark.parametrize(
    "question,source,fact",
    [
        ("Sa ushtarë të tjerë ka dërguar Koreja e Veriut në Rusi në fillim të këtij viti?", "001_", "3,000"),
        ("Quanti soldati nordcoreani sono morti nella guerra, secondo l'intelligence britannica?", "004_", "6.000"),
        ("Dove ha incontrato Lavrov la sua controparte nordcoreana Choe Son Hui?", "004_", "Wonsan"),
    ],
)
def test_questions_in_languages_xquad_lacks_are_answered(assistant, question, source, fact):
    a = assistant.ask(question)
    assert not a.refused, a.note
    assert a.citations[0].source.startswith(source) and fact in a.citations[0].quote, a.text


def test_a_store_with_one_article_answers_and_refuses(tmp_path, embedder, make_config):
    folder = tmp_path / "one"
    folder.mkdir()
    article = next(BUNDLED_ARTICLES.glob("002_*.txt"))
    (folder / article.name).write_text(article.read_text(encoding="utf-8"), encoding="utf-8")
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    sync([folder], store, embedder, config, progress=False)
    one = Assistant(config, embedder, store, llm=None)
    answered = one.ask("How much money will the G7 lend Ukraine?")
    assert not answered.refused and "$50 billion" in answered.citations[0].quote
    assert one.ask("What is the capital of Australia?").refused


def test_a_copy_of_the_first_choice_is_no_rival_to_it(embedder):
    """Two articles stating the same fact make two near-equal candidates; that is agreement, not a coin toss:
    the confidence reads the lead over the best candidate that says something else."""
    q = "How many soldiers were sent?"
    qv = embedder.queries([q])[0]
    fact = _candidate(embedder, "Koreja e Veriut ka dërguar 3,000 ushtarë në Rusi, tha Seuli.", "sq")
    other = _candidate(embedder, "The foreign ministers met in Moscow on Friday.", "en")
    copied = Selector.load().select(q, qv, [fact, fact, other], "en")
    assert copied.order[0] in (0, 1) and copied.rival == pytest.approx(float(copied.scores[2]))
    assert copied.rival < copied.top_score
    assert copied.confidence is not None and copied.calibration is not None
    with_the_copy_as_rival = float(confidence_features(copied.top_score, copied.top_score) @ copied.calibration)
    assert copied.confidence > 1 / (1 + np.exp(-with_the_copy_as_rival))


@pytest.mark.parametrize(
    "own, before, after, side",
    [
        (0.80, 0.70, 0.78, 1),  # the sentence after is nearly as close: quoted with it
        (0.80, 0.79, 0.60, -1),  # the one before
        (0.80, 0.79, 0.795, 1),  # both near: the closer one
        (0.80, 0.70, 0.70, 0),  # neither is near enough
        (0.80, None, None, 0),  # a sentence alone in its passage
        (0.80, None, 0.90, 1),  # closer than the chosen sentence itself
    ],
)
def test_a_quote_takes_in_the_adjacent_sentence_nearly_as_close_to_the_question(own, before, after, side):
    assert neighbour(own, before, after) == side
