"""A weighted logistic regression fitted the same way every time, for the small trained parts of ``qa``.

Full-batch Adam from zeros on standardised features for a fixed number of steps: no randomness, so a shipped
weights file is reproduced by its training script. Used by ``evals.train_selector`` and
``evals.train_followup``.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def fit_interactions(
    a: np.ndarray,
    b: np.ndarray,
    by: Sequence[int],
    y: np.ndarray,
    bias: int,
    l2: float,
    steps: int,
    lr: float,
    positive_weight: float,
) -> np.ndarray:
    """:func:`fit` for the design ``[a | b * a[:, by[0]] | b * a[:, by[1]] | ...]`` without building it.

    The selector's rows are 15 scalars ``a`` and, for each of 3 of them, the question vector ``b`` (384 numbers)
    times that scalar: 1,167 columns, of which 1,152 are products. Each step needs two passes over the rows;
    over ``b`` alone (384 columns) instead of the whole product block they read a third of the memory, so the
    selector's 253k rows train in ~1 min instead of ~3.5. The same weights as :func:`fit` on the built design,
    up to the order of float additions (the standardisation and every step are the same sums, grouped anew).
    """
    n = len(y)
    a64 = np.asarray(a, dtype=np.float64)
    b32 = np.asarray(b, dtype=np.float32)
    s = a64[:, list(by)]  # n x k: the scalars the vector is multiplied by
    mean_a, std_a = a64.mean(0), a64.std(0)
    mean_a[bias], std_a[bias] = 0.0, 1.0
    std_a[std_a < 1e-8] = 1.0
    za = ((a64 - mean_a) / std_a).astype(np.float32)
    mean_b = (b32.T @ s.astype(np.float32)).astype(np.float64).T / n  # k x d: mean of each product column
    square = (np.square(b32).T @ np.square(s).astype(np.float32)).astype(np.float64).T / n
    std_b = np.sqrt(np.maximum(square - mean_b**2, 0.0))
    std_b[std_b < 1e-8] = 1.0
    k, d = mean_b.shape
    sample = np.where(y > 0, positive_weight, 1.0)
    sample /= sample.sum()
    w = np.zeros(a.shape[1] + k * d)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    keep = np.where(np.arange(len(w)) == bias, 0.0, 1.0)
    for t in range(1, steps + 1):
        wa, wb = w[: a.shape[1]], w[a.shape[1] :].reshape(k, d)
        u = (wb / std_b).T.astype(np.float32)  # d x k
        logits = (za @ wa.astype(np.float32)).astype(np.float64)
        logits += ((b32 @ u).astype(np.float64) * s).sum(1) - float((wb * mean_b / std_b).sum())
        p = 1.0 / (1.0 + np.exp(-logits))
        r = sample * (p - y)
        grad_a = (za.T @ r.astype(np.float32)).astype(np.float64)
        grad_b = ((b32.T @ (s * r[:, None]).astype(np.float32)).astype(np.float64).T - mean_b * r.sum()) / std_b
        grad = np.concatenate([grad_a, grad_b.ravel()]) + l2 * keep * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    mean = np.concatenate([mean_a, mean_b.ravel()])
    std = np.concatenate([std_a, std_b.ravel()])
    raw = w / std
    raw[bias] = w[bias] - float((w * mean / std).sum() - w[bias] * mean[bias] / std[bias])
    return raw.astype(np.float32)
