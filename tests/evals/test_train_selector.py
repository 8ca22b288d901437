"""The selector's training: a deterministic fit, a threshold that separates, and the shipped weights reproduce."""

from __future__ import annotations

import json

import pytest

from evals import train_selector
from evals.selection import TEST_ARTICLES, TRAIN_ARTICLES, read
from evals.xquad import DEFAULT_DATA
from qa.select import INTERACTIONS, SCALAR_FEATURES, WEIGHTS, Selector


def test_the_splits_are_articles_0_to_35_and_36_to_47():
    assert list(TRAIN_ARTICLES) == list(range(36)) and list(TEST_ARTICLES) == list(range(36, 48))
    train, _, _ = read(DEFAULT_DATA, "en", TRAIN_ARTICLES)
    test, _, _ = read(DEFAULT_DATA, "en", TEST_ARTICLES)
    assert len(train) + len(test) == 240 and not set(train) & set(test)


def test_the_shipped_weights_load_and_match_the_features():
    selector = Selector.load()
    doc = json.loads(WEIGHTS.read_text())
    assert selector.weights.shape == (len(SCALAR_FEATURES) + 384 * len(INTERACTIONS),)
    assert 0 < selector.threshold < 1
    assert doc["training"]["articles"].startswith("0-35")


def test_weights_trained_with_other_features_are_refused(tmp_path):
    doc = json.loads(WEIGHTS.read_text())
    doc["features"] = doc["features"][:-1]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="trained with other features"):
        Selector.load(path)


@pytest.mark.slow
def test_the_shipped_weights_reproduce(tmp_path, make_config):
    """Retrain from XQuAD (minutes: every training sentence is embedded) and compare with the shipped file."""
    shipped = Selector.load()
    # The shipped engine's vectors are the same on every CPU, so the file reproduces up to the last digits it keeps.
    embedder = train_selector.training_embedder(make_config(tmp_path / "store"))
    selector, card = train_selector.train(embedder, DEFAULT_DATA, train_selector.LANGS)
    assert card["articles"].startswith("0-35") and "3-fold by article" in card["threshold_and_calibration"]
    assert selector.weights == pytest.approx(shipped.weights, abs=2e-6)
    assert selector.threshold == pytest.approx(shipped.threshold, abs=1e-9)
    # The calibration is read from held-out folds, so the same first choices get the same confidence; follow-ups
    # searched joined with an earlier question get their own threshold and calibration, the same way.
    assert selector.calibration == pytest.approx(shipped.calibration, abs=2e-6)
    assert selector.joined_threshold == pytest.approx(shipped.joined_threshold, abs=1e-9)
    assert selector.joined_calibration == pytest.approx(shipped.joined_calibration, abs=2e-6)
    # The score below which the store holds nothing near an answer, read from the same held-out selections.
    assert 0 < selector.unrelated < selector.threshold
    assert selector.unrelated == pytest.approx(shipped.unrelated, abs=1e-9)
