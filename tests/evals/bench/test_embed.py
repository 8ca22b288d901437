"""evals/bench/embed.py: how two engines are timed on a shared machine. No timed assertions: speed is what
the benchmark prints, never what a test checks."""

from __future__ import annotations

import time

import numpy as np

from evals.bench.embed import paired_seconds


class _Clock:
    """An engine whose 'work' is a fixed sleep per text, and a record of the order it was called in."""

    def __init__(self, name: str, calls: list, per_text: float) -> None:
        self.name, self.calls, self.per_text = name, calls, per_text

    def passage(self, texts):
        self.calls.append((self.name, len(texts)))
        time.sleep(self.per_text * len(texts))
        return np.zeros((len(texts), 384), dtype=np.float32)


def test_engines_are_timed_batch_by_batch_in_turn():
    calls: list = []
    engines = {"a": _Clock("a", calls, 0.0), "b": _Clock("b", calls, 0.0005)}
    texts = [f"text {i:03d}" + "x" * i for i in range(40)]
    seconds = paired_seconds(engines, texts)
    assert [c[0] for c in calls] == ["a", "b", "b", "a", "a", "b"]  # ABBA: 3 batches of 16, 16, 8
    assert [c[1] for c in calls] == [16, 16, 16, 16, 8, 8]
    assert set(seconds) == {"a", "b"} and seconds["b"] > seconds["a"] >= 0
