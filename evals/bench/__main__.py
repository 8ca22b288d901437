"""``python -m evals.bench``: the same command line as ``python -m evals bench``."""

from __future__ import annotations

import sys

from evals.bench.cli import main

sys.exit(main())
