"""qa/types.py: the values that cross module boundaries."""

from __future__ import annotations

from qa.types import SyncReport


def test_the_ingest_summary_line_gives_the_rate_of_the_exact_time_and_the_time_rounded():
    report = SyncReport(added=5, passages=28, embedded=28, seconds=0.44)
    assert report.summary() == (
        "5 added, 0 updated, 0 deleted, 0 skipped, 0 failed; 28 passages written (28 embedded) in 0.4 s, "
        "63.6 passages/s"
    )
    assert SyncReport().summary().endswith("in 0.0 s, 0.0 passages/s")  # nothing written: no division by zero
