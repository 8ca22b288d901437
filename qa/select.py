"""Which sentence answers the question, or none: a trained, language-general answer-sentence selector.

The retriever ranks sentences by how close they are to the question; the closest sentence often restates
the question without holding its answer ("North Korea sent troops to Russia" for "how many troops?"). The
selector scores every candidate sentence for "this sentence answers this question" from features that mean
the same in any language the embedder knows:

- closeness: the sentence's cosine to the question, relative to the best candidate and to the median of
  candidates in its language (the small embedder favours the question's own language), the cosine of the
  sentence with its neighbours (a sentence is a small unit; its context says what it is about), its
  passage's score and its rank, and whether it is in the question's language (the embedder's bias for it
  is learned, not guessed: training pools mix the answer's language with distractors in the question's);
- what the sentence adds to the question: figures and names it states that the question does not, and how
  much of the question it merely repeats;
- which of those the question asks for, learned from the question's own embedding: the question vector
  times "states a new figure" / "names someone or something new" / "is long" lets the model learn that
  "how many", "combien", "كم" and "wie viele" want figures and "who" wants a name — in every language the
  embedder maps near those, without a word list.

A logistic regression over these features is trained on XQuAD articles 0-35 only (``python -m evals
train-selector``; data card in ``qa/models/selector.md``); its probability is calibrated on pools with and
without the answering paragraph, and ``threshold`` (stored with the weights) is the refusal point.

The chosen sentence is quoted with the adjacent sentence that is nearly as close to the question
(``neighbour``): the asked fact is often next door to the sentence that matches the question best, and the
confidence is calibrated on whether that quote holds the answer.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.text import is_heading, normalize_numbers, one_line
from qa.vectors import dots

WEIGHTS = Path(__file__).with_name("models") / "selector.json"
_WORD = re.compile(r"[^\W_]+")
SCALAR_FEATURES = (
    "cosine",
    "cosine_minus_best",
    "cosine_minus_lang_median",
    "context_cosine",
    "context_minus_best",
    "passage_score",
    "reciprocal_rank",
    "question_overlap",
    "sentence_overlap",
    "new_figure",
    "any_figure",
    "new_name",
    "log_length",
    "same_language",
    "bias",
)
# Question-vector interactions: which kind of sentence this question wants.
INTERACTIONS = ("new_figure", "new_name", "log_length")


@dataclass(frozen=True)
class Candidate:
    """One candidate sentence: its text and language, its vector, its vector with its neighbours'
    (``context_vectors``) and its passage's similarity to the question."""

    text: str
    lang: str | None
    vector: np.ndarray
    context: np.ndarray  # normalised sum of the sentence's and its neighbours' vectors
    passage_score: float


# A heading or a photo caption (a line that does not end like a sentence, ``qa.text.is_heading``) matches many
# questions closely and answers few: in the eval cases' pools 1 of 53 held the asked facts, against 73 of 611
# sentences, and as first choices 0 of 10. XQuAD's paragraphs have none, so the selector cannot learn it: its
# logit is lowered by this much, which leaves a heading first only when no sentence comes near it
# (docs/decisions.md, "The reader, round three").
HEADING_PENALTY = 1.0

# A follow-up asks something the previous answer did not say: the sentence quoted in it, which the user has read,
# is lowered by this much when a follow-up is searched joined with the question before it. On XQuAD questions each
# joined after an earlier one of its article (``evals.selection.joined_questions``), lowering the earlier
# question's answer sentence chose the answer 0.539 -> 0.581 of the time on articles 0-35 (penalty 2; 4: 0.582,
# 1: 0.559) and 0.491 -> 0.523 on the test quarter; the two are the same sentence 18% of the time there.
SEEN_PENALTY = 2.0

# Two sentences state the same fact when their embeddings' cosine reaches this (a copy, an edited repost): one is
# no rival to the other, and a later article's is quoted first (``qa.answer``; measured in docs/decisions.md).
SAME_FACT = 0.93


# A sentence is a small unit: the fact a question asks for is often in the sentence next to the one that matches
# it best (the speaker of a quote, the toll after "a missile hit Dnipro"). The quote takes in the neighbour that is
# closer to the question when its cosine is within this much of the chosen sentence's. On XQuAD articles 0-35
# (6 languages, mixed pools) the quote held the answer for 0.771 of the answerable pools with the sentence alone,
# 0.835 at 0.06 and 0.840 with the closer neighbour always (0.02: 0.813, 0.04: 0.829), 291 characters against
# 185 and 340; 0.06 is the smallest margin within half a point of always (docs/decisions.md).
NEIGHBOUR_MARGIN = 0.06


def neighbour(own: float, before: float | None, after: float | None) -> int:
    """Which adjacent sentence a quote takes in, given the cosines with the question of the chosen sentence and of
    the sentences before and after it (None: none there, or not one to quote): -1 before, 1 after, 0 neither."""
    side, best = max(((-1, before), (1, after)), key=lambda x: -math.inf if x[1] is None else x[1])
    return side if best is not None and best >= own - NEIGHBOUR_MARGIN else 0


def confidence_features(top: float, rival: float) -> np.ndarray:
    """What the confidence of a choice is read from: the best candidate's logit, its lead over its best rival's
    probability (two close candidates that say different things make a choice a coin toss), and a constant."""
    top = float(np.clip(top, 1e-6, 1 - 1e-6))
    return np.array([math.log(top / (1 - top)), top - rival, 1.0])


@dataclass(frozen=True)
class Selection:
    """Probabilities that each candidate answers the question, best first as ``order``; ``answered`` is
    False when no candidate clears the calibrated threshold (the answer is then a refusal). ``confidence``
    is the calibrated probability that the first choice answers the question."""

    scores: np.ndarray
    order: list[int]
    threshold: float
    calibration: np.ndarray | None = None  # weights over ``confidence_features``
    rival: float = 0.0  # the best score of a candidate that does not restate the first choice (``SAME_FACT``)
    read: bool = False  # a language model read the candidates and chose the first (``qa.read``): answered

    @property
    def confidence(self) -> float | None:
        """The probability that the first choice answers the question, calibrated on the training pools (None
        when there is no candidate or no calibration)."""
        if not self.order or self.calibration is None:
            return None
        logit = float(confidence_features(self.top_score, self.rival) @ self.calibration)
        return float(1.0 / (1.0 + math.exp(-logit)))

    @property
    def top_score(self) -> float:
        """The best candidate's probability (0 when there is no candidate)."""
        return float(self.scores[self.order[0]]) if self.order else 0.0

    @property
    def answered(self) -> bool:
        return bool(self.order) and (self.read or self.top_score >= self.threshold)

    def chosen(self, index: int, candidates: Sequence[Candidate]) -> Selection:
        """The same scores with candidate ``index`` first, as a language model chose it (``qa.read``); its
        confidence is then read from the selector's score of that candidate and its lead over the others."""
        order = [index, *(i for i in self.order if i != index)]
        return replace(self, order=order, rival=_rival(self.scores, order, candidates), read=True)


def _stems(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return {w[:5] for w in _WORD.findall(folded) if not w.isdigit()}


def _names(text: str) -> set[str]:
    """Capitalised words past a sentence's first word (any cased script), as 5-letter stems."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text))
    return {w.casefold()[:5] for w in words[1:] if w[:1].isupper()}


def features(question: str, qvec: np.ndarray, candidates: Sequence[Candidate], lang: str | None) -> np.ndarray:
    """The feature matrix (one row per candidate) the weights were trained on; ``lang`` is the question's: the
    ``SCALAR_FEATURES``, then the question's vector times each of ``INTERACTIONS``.

    Float64 throughout (``qa.vectors``): the same rows, and so the same choices, on every CPU."""
    x = scalar_features(question, qvec, candidates, lang)
    q = np.asarray(qvec, dtype=np.float64)
    blocks = [x[:, [SCALAR_FEATURES.index(f)]] * q[None, :] for f in INTERACTIONS]
    return np.hstack([x, *blocks])


def scalar_features(question: str, qvec: np.ndarray, candidates: Sequence[Candidate], lang: str | None) -> np.ndarray:
    """The ``SCALAR_FEATURES`` of each candidate (the first columns of :func:`features`)."""
    if not candidates:
        return np.zeros((0, len(SCALAR_FEATURES)))
    sims = dots(np.vstack([c.vector for c in candidates]), qvec)
    ctx = dots(np.vstack([c.context for c in candidates]), qvec)
    langs = [c.lang for c in candidates]
    median = {lang: float(np.median(sims[[i for i, x in enumerate(langs) if x == lang]])) for lang in set(langs)}
    rank = np.empty(len(sims))
    rank[np.argsort(-sims, kind="stable")] = np.arange(1, len(sims) + 1)
    q_stems, q_numbers, q_names = _stems(question), normalize_numbers(question), _names(question)
    rows: list[list[float]] = []
    for i, c in enumerate(candidates):
        stems = _stems(c.text)
        numbers = normalize_numbers(c.text)
        scalar = {
            "cosine": sims[i],
            "cosine_minus_best": sims[i] - sims.max(),
            "cosine_minus_lang_median": sims[i] - median[c.lang],
            "context_cosine": ctx[i],
            "context_minus_best": ctx[i] - ctx.max(),
            "passage_score": c.passage_score,
            "reciprocal_rank": 1.0 / rank[i],
            "question_overlap": len(q_stems & stems) / max(1, len(q_stems)),
            "sentence_overlap": len(q_stems & stems) / max(1, len(stems)),
            "new_figure": float(bool(numbers - q_numbers)),
            "any_figure": float(bool(numbers)),
            "new_name": float(bool(_names(c.text) - q_names - q_stems)),
            "log_length": math.log1p(len(_WORD.findall(c.text))) / 4.0,
            "same_language": float(lang is not None and c.lang == lang),
            "bias": 1.0,
        }
        rows.append([float(scalar[f]) for f in SCALAR_FEATURES])
    return np.asarray(rows, dtype=np.float64)


@dataclass(frozen=True)
class Selector:
    """The trained weights and the refusal threshold; ``select`` is pure (no I/O after loading)."""

    weights: np.ndarray
    threshold: float
    calibration: np.ndarray | None = None  # ``confidence_features`` -> P(the first choice answers)
    # The same two for a question searched joined with an earlier one (a follow-up, ``qa.resolve``): the earlier
    # question's words pull the choice towards its own answer, so the same scores are worth less there.
    joined_threshold: float | None = None
    joined_calibration: np.ndarray | None = None
    # A best score this low says the store holds nothing near an answer: ``UNRELATED_SHARE`` of the held-out
    # questions whose answer is in it score lower. A question that may be a follow-up is then not searched with
    # the conversation (``qa.answer``): it is about something the articles do not touch (a recipe after a
    # question on the war), and joined with the previous question it would be answered from that topic.
    unrelated: float = 0.0

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Selector:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("features") != list(SCALAR_FEATURES) or data.get("interactions") != list(INTERACTIONS):
            raise ValueError(f"{path} was trained with other features; run `python -m evals train-selector`")
        joined = data.get("joined") or {}
        return cls(
            np.asarray(data["weights"], dtype=np.float32),
            float(data["threshold"]),
            _array(data.get("calibration")),
            float(joined["threshold"]) if joined.get("threshold") is not None else None,
            _array(joined.get("calibration")),
            float(data.get("unrelated", 0.0)),
        )

    def probabilities(self, x: np.ndarray, penalty: np.ndarray | None = None) -> np.ndarray:
        """The probability that each row's candidate answers, its logit lowered by ``penalty`` (per row)."""
        logits = dots(x, self.weights)
        if penalty is not None:
            logits = logits - penalty
        return 1.0 / (1.0 + np.exp(-logits))

    def select(
        self,
        question: str,
        qvec: np.ndarray,
        candidates: Sequence[Candidate],
        lang: str | None,
        joined: bool = False,
        seen: Collection[str] = (),
    ) -> Selection:
        """Score the candidates of a question in language ``lang`` (the candidates' languages may differ);
        ``joined``: the question is a follow-up searched joined with the one before it, and ``seen`` the
        sentences the previous answer quoted (``SEEN_PENALTY``). Headings and captions: ``HEADING_PENALTY``."""
        shown = [one_line(t) for t in seen] if joined else []
        penalty = np.asarray(
            [
                HEADING_PENALTY * is_heading(c.text) + SEEN_PENALTY * any(one_line(c.text) in s for s in shown)
                for c in candidates
            ],
            dtype=np.float64,
        )
        scores = self.probabilities(features(question, qvec, candidates, lang), penalty)
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        judge = self.as_joined() if joined else self
        return Selection(scores, order, judge.threshold, judge.calibration, _rival(scores, order, candidates))

    def as_joined(self) -> Selector:
        """The same weights with the threshold and the calibration of joined searches (itself without them)."""
        if self.joined_threshold is None:
            return self
        return replace(self, threshold=self.joined_threshold, calibration=self.joined_calibration)


def _array(values: list[float] | None) -> np.ndarray | None:
    return np.asarray(values, dtype=np.float64) if values else None


def _rival(scores: np.ndarray, order: list[int], candidates: Sequence[Candidate]) -> float:
    """The best score of a candidate that does not restate the first in ``order`` (0 when there is none)."""
    if not order:
        return 0.0
    same = dots(np.vstack([c.vector for c in candidates]), candidates[order[0]].vector) >= SAME_FACT
    return max((float(scores[i]) for i in order[1:] if not same[i]), default=0.0)


def context_vectors(vectors: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """For sentence i, the normalised sum of sentences i-1, i, i+1 of the same group (passage), in order."""
    out = vectors.astype(np.float64).copy()
    for i in range(len(vectors)):
        for j in (i - 1, i + 1):
            if 0 <= j < len(vectors) and groups[j] == groups[i]:
                out[i] += vectors[j]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms == 0, 1, norms)).astype(np.float32)
