"""The follow-up classifier's training: the shipped weights reproduce from their data, bad data is refused."""

from __future__ import annotations

import numpy as np
import pytest

from evals import train_followup
from evals.xquad import DEFAULT_DATA
from qa.errors import InputError
from qa.resolve import Resolver


def test_an_unreadable_questions_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        train_followup.hand_written(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_the_shipped_weights_reproduce(embedder):
    """Retrain from XQuAD 0-35 and the hand-written questions (~15,000 questions embedded) and compare."""
    shipped = Resolver.load()
    resolver, card = train_followup.train(embedder, DEFAULT_DATA, train_followup.QUESTIONS)
    a, b = resolver.weights, shipped.weights
    # The same model up to the embedder's float order on another CPU (see the selector's reproduce test).
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) >= 0.99
    assert resolver.threshold == pytest.approx(shipped.threshold, abs=0.02)
    assert resolver.maybe_threshold == pytest.approx(shipped.maybe_threshold, abs=0.02)
    assert "articles 0-35" in card["source"] and card["hand_written"] > 1000
