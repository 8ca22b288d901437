"""The few summary figures every eval reports: median, percentiles (p50/p95) and ratios.

One definition for all of them, so a p95 in the eval report, the load test and the benchmarks is the same
figure: the standard library's ``statistics.quantiles`` with the "inclusive" method, which is linear
interpolation between the closest ranks (numpy's default percentile).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    """The median; a ``ValueError`` (``statistics.StatisticsError``) for no values, since there is no figure."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: int) -> float | None:
    """The ``q``-th percentile (1-99) of ``values``, None for no values (nothing was measured)."""
    if not 0 < q < 100:
        raise ValueError(f"percentile must be from 1 to 99, not {q}")
    if not values:
        return None
    if len(values) == 1:  # quantiles() needs two points before Python 3.13; one point is every percentile
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ratio(a: float, b: float) -> float | None:
    """``a / b``, None when ``b`` is 0 (a share of nothing is not a figure)."""
    return a / b if b else None
