"""``python -m evals bench``: speed and scale, as numbers (never as timed tests).

    python -m evals bench [embed|ingest|scale|query|answer|cli|all] [--passages N] [--runs R] [--out FILE]

One module per benchmark (``embed``, ``ingest``, ``scale``, ``query``, ``answer``, and ``shell`` for ``cli``:
each module says what it measures), the generated corpus in ``corpus``, the settings every benchmark shares in
``shared``, the table in ``table`` and the command line in ``cli``.

Every figure is the median of ``--runs`` runs, and compared figures are measured alternately in the same
run: the machine is shared, so ratios mean more than absolute times. The corpus is built on the fly with
a fixed seed from real text (the sentences of every XQuAD language, read by path, and the bundled
articles) under ``--work`` and never committed.
"""

from __future__ import annotations

from evals.bench.cli import main

__all__ = ["main"]
