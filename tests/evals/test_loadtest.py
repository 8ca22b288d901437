"""evals/loadtest.py: the figures it reports, and a small run against the real page (20 sessions at once)."""

from __future__ import annotations

import json

import pytest

from evals import loadtest


def bubble(html: str) -> tuple:
    return (
        "",
        [
            {"role": "user", "content": [{"text": "q", "type": "text"}]},
            {"role": "assistant", "content": [{"text": html, "type": "text"}]},
        ],
        "",
    )


@pytest.mark.parametrize(
    "html, outcome",
    [
        ('<div class="qa-answer qa-extractive">«…» [1]</div>', "extractive"),
        ('<div class="qa-answer qa-llm">In Paris [1].</div>', "llm"),
        ('<div class="qa-answer qa-refused">The articles do not say.</div>', "refused"),
        ('<div class="qa-answer qa-failed">⚠ the store is busy</div>', "error"),
        ('<div class="qa-pending">Searching the articles…</div>', "error"),
    ],
)
def test_the_last_bubble_decides_the_outcome(html, outcome):
    assert loadtest.outcome_of(bubble(html))[0] == outcome
    assert loadtest.outcome_of(("", [], ""))[0] == "error"


def test_summary_counts_errors_and_waits():
    reqs = [
        loadtest.Request(0, "q", 1.0, 0.0, "extractive"),
        loadtest.Request(1, "q", 3.0, 2.0, "refused"),
        loadtest.Request(2, "q", 9.0, 5.0, "error", "TimeoutError: no answer"),
    ]
    s = loadtest.summarize(reqs, wall_s=10.0)
    assert (s["requests"], s["answered"], s["errors"], s["waited_in_queue"]) == (3, 2, 1, 2)
    assert s["latency_s"] == {"p50": 2.0, "p95": 2.9, "max": 3.0} and s["error_details"] == ["TimeoutError: no answer"]


@pytest.mark.slow
@pytest.mark.integration
def test_twenty_sessions_at_once_all_get_an_answer(qa_env, corpus, tmp_path, capsys):
    out = tmp_path / "load.json"
    assert loadtest.main(["--sessions", "20", "--questions", "1", "--llm", "none", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["requests"], report["answered"], report["errors"]) == (20, 20, 0), report["error_details"]
    assert {r["outcome"] for r in report["requests_detail"]} <= {"extractive", "refused"}
    assert report["outcomes"]["extractive"] >= 10  # most of the questions are answered by the bundled articles
    assert report["waited_in_queue"] >= 1  # one question at a time: the others were told to wait
    assert 0 < report["latency_s"]["p50"] <= report["latency_s"]["p95"] <= report["latency_s"]["max"]
    assert "0 errors" in capsys.readouterr().out
