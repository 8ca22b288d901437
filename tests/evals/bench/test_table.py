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
                "searchable_min": 7.5,
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
    assert "11.5 min (14.5 passages/s)" in text and "2,048 / yes" in text
    assert "| 7.5 min | <= 10 min |" in text
    assert "0 embedded (1.3% of the first)" in text and "812 MB" in text
    assert len({line.count("|") for line in lines}) == 1


def test_the_cli_rows_show_search_and_the_asks_side_by_side():
    text = table(
        {
            "cli": {
                "calls": 5,
                "search_p50_s": 2.31,
                "ask_cold_s": 19.5,
                "ask_reused_p50_s": 4.62,
                "ask_reused_inside_p50_s": 2.1,
                "ask_own_server_p50_s": 17.04,
            }
        }
    )
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in text.splitlines()[2:]}
    assert rows["python -m qa search from a shell, p50 over 5 calls (wall)"] == [" 2.31 s ", " <= 2 s "]
    assert rows["python -m qa ask --llm local, first call (starts the shared server)"][0] == " 19.50 s "
    assert rows["later calls, server reused, p50 over 5"] == [" 4.62 s (2.10 s in Assistant.ask) ", " <= 4 s "]
    assert rows["QA_LLM_IDLE=0: a server per call, p50 over 5"][0] == " 17.04 s "


def test_the_filters_rows_show_each_filter_with_its_share_and_the_disk_per_passage():
    one = {"kept_share": 0.082, "p50_ms": 56.1, "p95_ms": 63.0, "runs_p50_ms": [56.1]}
    text = table(
        {"filters": {"passages": 10000, "store_mb": 61.2, "bytes_per_passage": 6120, "filters": {"one month": one}}}
    )
    assert "search with a filter, 10,000 passages: one month (keeps 8.2%) | p50 56 ms, p95 63 ms" in text
    assert "61 MB, 6,120 bytes a passage" in text


def test_the_servers_rows_compare_each_setup_with_one_server():
    one = {"seconds": 20.0, "passages_per_s": 6.5, "runs": [20.0], "vs_one_server": 1.0}
    two = {"seconds": 11.0, "passages_per_s": 11.8, "runs": [11.0], "vs_one_server": 1.82}
    text = table({"servers": {"passages": 130, "setups": {"1 server x 1 thread": one, "2 servers x 1 thread": two}}})
    assert "2 servers x 1 thread (130 passages, this machine's 2 cores) | 11.8 passages/s = 1.82x one server" in text
