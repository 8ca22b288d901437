"""``python -m evals train-followup``: fit the classifier that tells an elliptical follow-up from a question that
stands alone (``qa/resolve.py``).

    python -m evals train-followup [--data DIR] [--questions evals/followup_questions.jsonl]
                                   [--held-out evals/followup_heldout.jsonl] [--out FILE]

Complete questions: every question of XQuAD articles 0-35 in its 12 languages (nothing of articles 36-47 is
read), and the hand-written complete questions of ``--questions``; elliptical ones: the hand-written
elliptical questions there (other subjects than the bundled articles, 16 languages). The features are the
e5 query vector of the question and its length; a weighted logistic regression (``evals.logistic``) gives
each class the same total weight. The thresholds are read off the probabilities each hand-written language's
questions get from a model trained without that language: ``threshold`` (searched with the conversation
whatever it finds alone) is reached by 2% of the complete questions, ``maybe_threshold`` (searched with it only
when alone it finds no answer) by 10%. Joining a complete question with an unrelated one costs it its answer,
so the thresholds are set by the complete questions, not by balancing both errors. The data card gives the
leave-one-language-out accuracy and the share of elliptical questions each threshold catches, and how the
shipped model treats ``--held-out``: news-style questions never trained on (complete ones with "this week", "the
new hospital", "last season", and elliptical ones), the kind a chat about news meets.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from evals.logistic import fit, youden_threshold
from evals.selection import TRAIN_ARTICLES, read
from evals.train_selector import training_embedder
from evals.xquad import DEFAULT_DATA
from qa.config import PROJECT_DIR, Config, offline_environment
from qa.embed import Embedder
from qa.errors import InputError, QAError
from qa.resolve import SCALARS, WEIGHTS, Resolver, features

QUESTIONS = PROJECT_DIR / "evals" / "followup_questions.jsonl"
HELD_OUT = PROJECT_DIR / "evals" / "followup_heldout.jsonl"
XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
L2 = 1e-2
STEPS = 400
LEARNING_RATE = 0.05
# Of the complete hand-written questions (each scored by a model trained without its language): the share that
# may be searched with the conversation when alone they find no answer, and the share that would be searched
# with it whatever they find alone. A complete question joined with an unrelated one loses its own answer.
MAYBE_SHARE = 0.1
SURE_SHARE = 0.02


def hand_written(path: Path) -> list[tuple[str, str, bool]]:
    """(language, question, elliptical) of the hand-written training questions."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    out = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
                out.append((str(row["lang"]), str(row["question"]).strip(), bool(row["elliptical"])))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InputError(f"{path} line {number}: not a training question ({e})") from None
    return out


def xquad_questions(data: Path) -> list[tuple[str, str, bool]]:
    """Every question of the training articles in every XQuAD language: all complete."""
    return [(lang, q, False) for lang in XQUAD_LANGS for q, _, _ in read(data, lang, TRAIN_ARTICLES)[1]]


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    balance = float((y == 0).sum()) / max(1.0, float(y.sum()))
    return fit(x, y, x.shape[1] - 1, L2, STEPS, LEARNING_RATE, balance)


def held_out_shares(resolver: Resolver, embedder: Embedder, rows: list[tuple[str, str, bool]]) -> dict[str, float]:
    """Of questions never trained on: the share of complete ones searched with the conversation whatever they find
    alone (``complete_joined``) or when alone they find nothing (``complete_maybe``, the two together), and the
    same for elliptical ones."""
    texts = [q for _, q, _ in rows]
    p = resolver.probabilities(texts, embedder.queries(texts)) if texts else np.zeros(0)
    out: dict[str, float] = {}
    for name, want in (("complete", False), ("elliptical", True)):
        mine = np.array([e == want for _, _, e in rows], dtype=bool)
        if mine.any():
            out[f"{name}_joined"] = round(float(np.mean(p[mine] >= resolver.threshold)), 3)
            out[f"{name}_maybe"] = round(float(np.mean(p[mine] >= resolver.maybe_threshold)), 3)
        out[f"{name}_questions"] = int(mine.sum())
    return out


def train(embedder: Embedder, data: Path, questions: Path, unseen: Path | None = None) -> tuple[Resolver, dict]:
    t0 = time.perf_counter()
    written = hand_written(questions)
    scored = hand_written(unseen) if unseen is not None else None  # read first: a bad file fails before training
    rows = xquad_questions(data) + written
    texts = [q for _, q, _ in rows]
    x = features(texts, embedder.queries(texts))
    y = np.array([float(e) for _, _, e in rows])
    weights = _fit(x, y)
    n = len(rows) - len(written)
    # The threshold is read off probabilities the model gave questions of a language it was not trained on
    # (each hand-written language left out in turn): in-sample probabilities are too sure of themselves, and
    # the questions it will meet are not its training questions.
    held = np.zeros(len(rows) - n)
    for lang in sorted({lang for lang, _, _ in written}):
        keep = np.array([not (i >= n and rows[i][0] == lang) for i in range(len(rows))])
        w = _fit(x[keep], y[keep]).astype(np.float64)
        test = [i for i in range(n, len(rows)) if rows[i][0] == lang]
        held[[i - n for i in test]] = 1.0 / (1.0 + np.exp(-(x[test] @ w)))
    pairs = list(zip(held.tolist(), y[n:] > 0))
    complete = [v for v, e in pairs if not e]
    threshold = float(np.quantile(complete, 1 - SURE_SHARE))
    maybe = float(np.quantile(complete, 1 - MAYBE_SHARE))
    youden = youden_threshold([v for v, e in pairs if e], complete)
    held_out = {
        lang: round(float(np.mean([(v >= threshold) == e for (v, e), r in zip(pairs, written) if r[0] == lang])), 3)
        for lang in sorted({lang for lang, _, _ in written})
    }
    resolver = Resolver(weights.astype(np.float64), threshold, maybe)
    card = {
        "source": "XQuAD (Artetxe et al., 2020), CC BY-SA 4.0, read from ../shared/benchmarks/xquad: every question "
        f"of articles {TRAIN_ARTICLES.start}-{TRAIN_ARTICLES.stop - 1} (file order; 36-47 never read) in "
        f"{len(XQUAD_LANGS)} languages, all complete; and {questions.name}, written for this project "
        "(questions on other subjects than the bundled articles)",
        "xquad_questions": n,
        "hand_written": len(written),
        "hand_written_elliptical": int(y[n:].sum()),
        "languages": sorted({lang for lang, _, _ in rows}),
        "l2": L2,
        "steps": STEPS,
        "leave_one_language_out_accuracy": held_out,
        "leave_one_language_out_overall": round(float(np.mean([(v >= threshold) == e for v, e in pairs])), 3),
        "elliptical_caught_held_out": {
            "sure": round(float(np.mean([v >= threshold for v, e in pairs if e])), 3),
            "maybe": round(float(np.mean([v >= maybe for v, e in pairs if e])), 3),
        },
        "youden_threshold_not_used": round(youden, 4),
    }
    if unseen is not None and scored is not None:
        card["held_out"] = {"file": unseen.name, **held_out_shares(resolver, embedder, scored)}
    card["seconds"] = round(time.perf_counter() - t0, 1)
    return resolver, card


def write(resolver: Resolver, card: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "scalars": list(SCALARS),
        "threshold": round(resolver.threshold, 6),
        "maybe_threshold": round(resolver.maybe_threshold, 6),
        "training": card,
        "weights": [round(float(w), 6) for w in resolver.weights],
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals train-followup", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of xquad.<lang>.json")
    ap.add_argument("--questions", type=Path, default=QUESTIONS, help=f"hand-written questions (default {QUESTIONS})")
    ap.add_argument(
        "--held-out", type=Path, default=HELD_OUT, help=f"questions scored, never trained on (default {HELD_OUT})"
    )
    ap.add_argument("--out", type=Path, default=WEIGHTS, help=f"weights file (default {WEIGHTS})")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    offline_environment()
    try:
        resolver, card = train(training_embedder(Config.from_env()), a.data, a.questions, a.held_out)
    except QAError as e:
        print(f"evals train-followup: error: {e}", file=sys.stderr)
        return 1
    write(resolver, card, a.out)
    print(
        json.dumps(
            {"out": str(a.out), "threshold": round(resolver.threshold, 4), "maybe": round(resolver.maybe_threshold, 4)}
            | card,
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
