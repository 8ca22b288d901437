"""evals/reliability.py: the reliability diagram is a real PNG of the bins it is given."""

from __future__ import annotations

from evals.reliability import draw


def test_the_diagram_is_a_png(tmp_path):
    path = draw([(0.15, 0.2, 4), (0.55, 0.5, 10), (0.92, 0.7, 6)], 0.123, 20, tmp_path / "r.png", "test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
