"""evals/bench/cli.py: ``python -m evals bench`` refuses bad flags as usage errors."""

from __future__ import annotations

import pytest

from evals.bench import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--passages", "0"], "at least 1"),
        (["--runs", "two"], "at least 1"),
        (["--sizes", "1000,abc"], "separated by commas"),
        (["--kill-after", "-5"], "above 0"),
        (["warp"], "invalid choice"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
