"""evals/logistic.py: the fits are deterministic, and the factored fit equals the fit of the built design."""

from __future__ import annotations

import numpy as np

from evals.logistic import fit, fit_interactions, youden_threshold


def _data(n: int = 600, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 5))
    a[:, 4] = 1.0  # the bias column
    b = rng.normal(size=(n, 8)).astype(np.float32)
    y = ((a[:, 0] + b[:, 0] * a[:, 1]) > 0.3).astype(np.float64)
    return a, b, y


def test_the_factored_fit_gives_the_weights_of_the_built_design():
    a, b, y = _data()
    by = [1, 2]
    built = np.hstack([a, *(b * a[:, [f]] for f in by)])
    dense = fit(built, y, 4, 1e-3, 200, 0.05, 3.0).astype(np.float64)
    factored = fit_interactions(a, b, by, y, 4, 1e-3, 200, 0.05, 3.0).astype(np.float64)
    assert dense.shape == factored.shape
    assert np.allclose(dense, factored, rtol=1e-3, atol=1e-3)
    assert np.array_equal(factored, fit_interactions(a, b, by, y, 4, 1e-3, 200, 0.05, 3.0).astype(np.float64))


def test_the_fit_learns_and_is_deterministic():
    a, _, y = _data()
    w = fit(a, (a[:, 0] > 0.5).astype(np.float64), 4, 1e-3, 200, 0.05, 1.0)
    p = 1 / (1 + np.exp(-(a @ w)))
    assert ((p > 0.5) == (a[:, 0] > 0.5)).mean() > 0.95
    assert np.array_equal(w, fit(a, (a[:, 0] > 0.5).astype(np.float64), 4, 1e-3, 200, 0.05, 1.0))


def test_the_threshold_separates_positives_from_negatives():
    assert youden_threshold([0.9, 0.8, 0.7], [0.2, 0.3, 0.75]) == 0.8
    assert youden_threshold([0.9, 0.6], [0.1, 0.2]) == 0.6
