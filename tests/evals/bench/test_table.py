"""evals/bench/table.py: one Markdown table of figure, measured value and target."""

from __future__ import annotations

from evals.bench.table import table


def test_the_table_shows_figure_value_and_target():
    text = table(
        {
            "scale": {
                "passages": 10000,
                "killed_after_s": 120.0,
                "end_to_end_min": 11.5,
                "passages_per_s": 14.5,
                "stored_when_killed": 2048,
                "exact_passage_set": True,
                "unchanged_s": 9.0,
                "unchanged_report": {"embedded": 0},
                "unchanged_share": 0.013,
                "peak_rss_mb": 812.0,
            }
        }
    )
    lines = text.splitlines()
    assert lines[0].startswith("| figure") and "measured" in lines[0] and "target" in lines[0]
    assert "11.5 min (14.5 passages/s)" in text and "<= 12 min" in text and "2,048 / yes" in text
    assert "0 embedded (1.3% of the first)" in text and "812 MB" in text
    assert len({line.count("|") for line in lines}) == 1
