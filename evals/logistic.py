"""A weighted logistic regression fitted the same way every time, for the small trained parts of ``qa``.

Full-batch Adam from zeros on standardised features for a fixed number of steps: no randomness, so a shipped
weights file is reproduced by its training script. Used by ``evals.train_selector`` and
``evals.train_followup``.
"""

from __future__ import annotations

import numpy as np


def fit(
    x: np.ndarray, y: np.ndarray, bias: int, l2: float, steps: int, lr: float, positive_weight: float
) -> np.ndarray:
    """Weights for the raw features of ``x`` (column ``bias`` is the constant 1, left unpenalised); each
    positive row weighs ``positive_weight`` times a negative one."""
    mean, std = x.mean(0), x.std(0)
    mean[bias], std[bias] = 0.0, 1.0
    std[std < 1e-8] = 1.0
    z = ((x - mean) / std).astype(np.float64)
    sample = np.where(y > 0, positive_weight, 1.0)
    sample /= sample.sum()
    w = np.zeros(z.shape[1])
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (sample * (p - y)) + l2 * np.where(np.arange(len(w)) == bias, 0.0, w)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    raw = w / std
    raw[bias] = w[bias] - float((w * mean / std).sum() - w[bias] * mean[bias] / std[bias])
    return raw.astype(np.float32)


def youden_threshold(positives: list[float], negatives: list[float]) -> float:
    """The probability cut that maximises the share of ``negatives`` below it minus the share of ``positives``
    below it (Youden's J)."""
    cuts = sorted(set(positives) | set(negatives))
    best, best_j = 0.5, -1.0
    for c in cuts:
        j = sum(1 for x in negatives if x < c) / len(negatives) - sum(1 for x in positives if x < c) / len(positives)
        if j > best_j:
            best, best_j = c, j
    return float(best)
