"""evals/statistics.py: median, percentiles and ratios, checked against percentiles worked out by hand.

The p-th percentile of n sorted values lies at position (n - 1) * p / 100 (0-based), linearly interpolated
between the two values around it.
"""

from __future__ import annotations

import pytest

from evals.statistics import median, percentile, ratio


def test_percentiles_match_hand_computed_values():
    # [1, 2, 3, 4, 5]: p50 at position 2 -> 3; p95 at 3.8 -> 4 + 0.8 * (5 - 4) = 4.8
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    # [1, 2, 3, 4]: p50 at 1.5 -> 2.5; p25 at 0.75 -> 1.75
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 3.0, 2.0, 1.0], 25) == pytest.approx(1.75)
    # 1..100: p50 at 49.5 -> 50.5; p95 at 94.05 -> 95 + 0.05 = 95.05
    assert percentile(list(range(1, 101)), 50) == pytest.approx(50.5)
    assert percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)
    # nineteen 10s and one 100: p95 at 18.05 -> 10 + 0.05 * 90 = 14.5
    assert percentile([10.0] * 19 + [100.0], 95) == pytest.approx(14.5)
    # [0.2, 0.4, 1.0]: p95 at 1.9 -> 0.4 + 0.9 * 0.6 = 0.94
    assert percentile([1.0, 0.2, 0.4], 95) == pytest.approx(0.94)


def test_one_value_is_every_percentile_and_no_value_is_none():
    assert percentile([3.0], 95) == 3.0 and percentile([7.0], 95) == 7.0 and percentile([7.0], 50) == 7.0
    assert percentile([], 50) is None


@pytest.mark.parametrize("q", [0, 100, -5])
def test_percentiles_are_from_1_to_99(q):
    with pytest.raises(ValueError, match="from 1 to 99"):
        percentile([1.0, 2.0], q)


def test_median_and_ratio():
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0]) == 1.5
    assert ratio(3.0, 1.5) == 2.0 and ratio(1.0, 0.0) is None and ratio(0, 4) == 0.0
    with pytest.raises(ValueError):
        median([])
