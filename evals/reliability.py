"""The reliability diagram of a run: how often answers were right against the confidence they stated.

Drawn with matplotlib (no display: the Agg backend) into the report folder as ``reliability.png`` and linked
from ``report.md``. A calibrated assistant's bars sit on the diagonal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def draw(
    bins: Sequence[Sequence[float]], ece: float, answers: int, path: Path, title: str, right: str = "first claim right"
) -> Path:
    """``bins``: (mean confidence, share right, answers) per confidence decile that holds answers; ``right``: what
    counts as right (the vertical axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    centres = [int(c * 10) / 10 + 0.05 for c, _, _ in bins]
    top.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="calibrated")
    top.bar(centres, [r for _, r, _ in bins], width=0.09, color="#4c72b0", alpha=0.85, label="share right")
    top.plot(centres, [c for c, _, _ in bins], "o", color="#c44e52", label="stated (mean confidence)")
    top.set_ylim(0, 1)
    top.set_ylabel(right)
    top.set_title(f"{title}\nECE {ece:.3f} over {answers} answers")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, [n for _, _, n in bins], width=0.09, color="#8c8c8c")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("stated confidence")
    bottom.set_ylabel("answers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
