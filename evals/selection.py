"""XQuAD as answer-sentence selection: candidate pools built the way the assistant builds them, and scores.

XQuAD (CC BY-SA 4.0) has the same 48 articles in 12 languages, each question with the offset of its answer
in its paragraph, so any question language x any paragraph language is a labelled pair: the answer sentence
is the one holding the answer's first character. Articles 0-35 (file order, the same in every language) are
for training and calibration; articles 36-47 are the test quarter and are only ever scored.

A pool is what the selector sees for one question: the paragraphs of the split closest to the question
(as passages are), their sentences ranked by ``qa.retrieve.rank_scores``, the best ``POOL`` of them. An
*answerable* pool is built over every paragraph; a *removed* pool over every paragraph but the answering
one, as if it had never been ingested: it must be refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evals.metrics import CONFIDENT, ece_if_calibrated, reliability
from qa.embed import Embedder
from qa.errors import InputError
from qa.retrieve import rank_scores
from qa.select import Candidate, Selector, context_vectors, neighbour, scalar_features
from qa.text import is_heading, split_sentences

TRAIN_ARTICLES = range(0, 36)
TEST_ARTICLES = range(36, 48)
POOL = 8  # candidate sentences per question (the answer's sentence is among the best 8 for 65 of 70 eval cases)
PARAGRAPHS = 5  # closest paragraphs whose sentences compete, like the passages shown with an answer


@dataclass(frozen=True)
class Sentences:
    """Every sentence of one language's paragraphs in a split, with vectors, and the paragraph vectors."""

    lang: str
    texts: list[str]
    paragraph_of: np.ndarray  # sentence -> paragraph index
    starts: list[int]  # sentence start offsets in their paragraph
    ends: list[int]
    vectors: np.ndarray
    context: np.ndarray
    paragraph_vectors: np.ndarray


@dataclass(frozen=True)
class Questions:
    lang: str
    texts: list[str]
    paragraph: np.ndarray  # question -> paragraph index (same indices in every language)
    answer_start: list[int]  # in this language's paragraph; used with the paragraph language's own offsets
    vectors: np.ndarray
    earlier: tuple[int, ...] = ()  # joined questions (``joined_questions``): the question each one follows


@dataclass(frozen=True)
class Pool:
    question: str
    lang: str
    qvec: np.ndarray
    candidates: list[Candidate]
    labels: np.ndarray  # 1 for the answer's sentence
    paragraph: int = -1  # the question's own paragraph (the same index in every language)
    seen: frozenset[str] = frozenset()  # a joined question's: the sentences that answered the one it follows
    # 1 for a candidate whose quote holds the answer: it or the neighbour the assistant quotes with it
    # (``qa.select.neighbour``); None: the labels
    quoted: np.ndarray | None = None

    @property
    def quote_labels(self) -> np.ndarray:
        return self.labels if self.quoted is None else self.quoted


def read(data: Path, lang: str, articles: range) -> tuple[list[str], list[tuple[str, int, int]], list[int]]:
    """Paragraph texts of the given articles, (question, paragraph index, answer start) of each question, and
    the article of each paragraph."""
    path = data / f"xquad.{lang}.json"
    if not path.is_file():
        raise InputError(f"no XQuAD file for {lang!r} at {path}; pass --data DIR with the xquad.<lang>.json files")
    doc = json.loads(path.read_text(encoding="utf-8"))
    paragraphs: list[str] = []
    questions: list[tuple[str, int, int]] = []
    article_of: list[int] = []
    for number, article in [(i, doc["data"][i]) for i in articles]:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                questions.append((qa["question"].strip(), len(paragraphs), int(qa["answers"][0]["answer_start"])))
            paragraphs.append(p["context"])
            article_of.append(number)
    return paragraphs, questions, article_of


def sentences(embedder: Embedder, lang: str, paragraphs: Sequence[str]) -> Sentences:
    texts, owner, starts, ends = [], [], [], []
    for i, p in enumerate(paragraphs):
        for sp in split_sentences(p, lang):
            texts.append(p[sp.start : sp.end])
            owner.append(i)
            starts.append(sp.start)
            ends.append(sp.end)
    vectors = embedder.passages(texts)
    return Sentences(
        lang,
        texts,
        np.asarray(owner),
        starts,
        ends,
        vectors,
        context_vectors(vectors, owner),
        embedder.passages(list(paragraphs)),
    )


def questions(embedder: Embedder, lang: str, items: Sequence[tuple[str, int, int]]) -> Questions:
    return Questions(
        lang,
        [q for q, _, _ in items],
        np.asarray([p for _, p, _ in items]),
        [a for _, _, a in items],
        embedder.queries([q for q, _, _ in items]),
    )


def joined_questions(embedder: Embedder, q: Questions, article_of: Sequence[int]) -> Questions:
    """Each question searched as a follow-up is: joined after an earlier question of the same story (``qa.resolve``).

    The earlier question is, for every other question, one about the same paragraph (a follow-up on the same
    passage) and otherwise one about another paragraph of the same article (the next fact of the story); the
    labels stay those of the question itself. The selector's choice on such pools is what the confidence and the
    threshold of a joined search are read from: the earlier question's words pull towards its own answer.
    """
    texts: list[str] = []
    follows: list[int] = []
    for i, text in enumerate(q.texts):
        paragraph = int(q.paragraph[i])
        story = [j for j in range(len(q.texts)) if j != i and article_of[int(q.paragraph[j])] == article_of[paragraph]]
        earlier = [j for j in story if (int(q.paragraph[j]) == paragraph) == (i % 2 == 0)] or story
        follows.append(earlier[7 * i % len(earlier)] if earlier else i)
        texts.append(f"{q.texts[follows[-1]]} {text}" if earlier else text)
    return Questions(q.lang, texts, q.paragraph, q.answer_start, embedder.queries(texts), tuple(follows))


def earlier_answers(
    q: Questions, by_lang: dict[str, Sentences], answer_starts: dict[str, Sequence[int]]
) -> list[frozenset[str]]:
    """For each joined question (``joined_questions``), the sentence that answers the question it follows, in
    every language of ``by_lang`` (``answer_starts``: each language's answer offsets): what the previous answer
    quoted, as the assistant lowers it for a follow-up (``qa.select.SEEN_PENALTY``)."""
    out = []
    for i in range(len(q.texts)):
        e = q.earlier[i] if q.earlier else i
        texts = set()
        if e != i:
            for lang, s in by_lang.items():
                g = gold_sentence(s, int(q.paragraph[e]), answer_starts[lang][e])
                if g is not None:
                    texts.add(s.texts[g])
        out.append(frozenset(texts))
    return out


def gold_sentence(s: Sentences, paragraph: int, answer_start: int) -> int | None:
    """Index of the sentence of ``paragraph`` that holds the answer's first character."""
    for i in np.flatnonzero(s.paragraph_of == paragraph):
        if s.starts[i] <= answer_start < max(s.ends[i], s.starts[i] + 1):
            return int(i)
    return None


def pools(
    q: Questions,
    answer_lang: str,
    by_lang: dict[str, Sentences],
    answer_starts: Sequence[int],
    which: Sequence[int],
    removed: bool = False,
    article_of: Sequence[int] | None = None,
    seen: Sequence[frozenset[str]] | None = None,
) -> list[Pool]:
    """One pool per question index in ``which``: the answering paragraph in ``answer_lang`` (its answer starts at
    ``answer_starts[i]`` there), every other paragraph in a language of ``by_lang`` that varies with the paragraph
    and the question, half the time the question's own.

    A store of news mixes languages: the sentence that answers is often in another language than the
    question, beside related sentences in the question's language that the embedder ranks higher.
    """
    others = [lang for lang in by_lang if lang not in (q.lang, answer_lang)]
    mix = [q.lang, q.lang, answer_lang, *others] if q.lang in by_lang else [answer_lang, *others]
    cols = list(which)
    para_sims = {lang: s.paragraph_vectors @ q.vectors[cols].T for lang, s in by_lang.items()}
    sent_sims = {lang: s.vectors @ q.vectors[cols].T for lang, s in by_lang.items()}
    n_paragraphs = len(by_lang[answer_lang].paragraph_vectors)
    out = []
    for col, qi in enumerate(cols):
        gold_paragraph = int(q.paragraph[qi])
        lang_of = [answer_lang if j == gold_paragraph else mix[(7 * j + qi) % len(mix)] for j in range(n_paragraphs)]
        psims = np.array([para_sims[lang_of[j]][j, col] for j in range(n_paragraphs)])
        if removed:
            psims[gold_paragraph] = -np.inf
            if article_of is not None:
                psims[[j for j in range(n_paragraphs) if article_of[j] == article_of[gold_paragraph]]] = -np.inf
        members: list[tuple[str, int]] = []
        for j in np.argsort(-psims)[:PARAGRAPHS]:
            s = by_lang[lang_of[j]]
            members += [(lang_of[j], int(m)) for m in np.flatnonzero(s.paragraph_of == j)]
        sims = [float(sent_sims[lang][m, col]) for lang, m in members]
        passage = [float(psims[by_lang[lang].paragraph_of[m]]) for lang, m in members]
        ranks = rank_scores(sims, [lang for lang, _ in members], passage)
        chosen = [members[i] for i in np.argsort(-np.asarray(ranks), kind="stable")[:POOL]]
        gold = None if removed else gold_sentence(by_lang[answer_lang], gold_paragraph, answer_starts[qi])
        cands = [
            Candidate(
                by_lang[lang].texts[m],
                lang,
                by_lang[lang].vectors[m],
                by_lang[lang].context[m],
                float(psims[by_lang[lang].paragraph_of[m]]),
            )
            for lang, m in chosen
        ]
        labels = np.asarray([float(lang == answer_lang and m == gold) for lang, m in chosen])
        quoted = np.asarray(
            [
                float(
                    lang == answer_lang
                    and gold is not None
                    and gold in (m, _quoted_with(by_lang[lang], m, col, sent_sims[lang]))
                )
                for lang, m in chosen
            ]
        )
        shown = seen[qi] if seen is not None else frozenset()
        out.append(Pool(q.texts[qi], q.lang, q.vectors[qi], cands, labels, gold_paragraph, shown, quoted))
    return out


def _quoted_with(s: Sentences, m: int, col: int, sims: np.ndarray) -> int | None:
    """The sentence the assistant quotes together with sentence ``m`` (``qa.select.neighbour``; ``sims``: the
    sentences' cosines with the question in column ``col``), or None."""

    def near(j: int) -> float | None:
        same = 0 <= j < len(s.texts) and s.paragraph_of[j] == s.paragraph_of[m]
        return float(sims[j, col]) if same and not is_heading(s.texts[j]) else None

    side = neighbour(float(sims[m, col]), near(m - 1), near(m + 1))
    return m + side if side else None


@dataclass(frozen=True)
class SelectionScores:
    """How a selector does on one (question language, paragraph language) pair of pools."""

    questions: int
    accuracy: float  # accuracy@1: the best-scored sentence holds the answer, over all answerable questions
    quote_accuracy: float  # the same for its quote: the sentence with the neighbour quoted with it
    answered_right: float  # the same, and its score clears the threshold (the question is not refused)
    rank_baseline: float  # the same for today's rank order (first candidate)
    reachable: float  # the answer's sentence is among the candidates at all
    refusal_recall: float  # removed pools refused
    refusal_precision: float  # refused pools that were removed ones
    over_refusal: float  # answerable pools (answer among candidates) refused
    auroc: float  # best score separating answerable pools from removed ones
    ece: float  # expected calibration error of the confidence of answered pools (first choice is the answer)
    ece_if_calibrated: float  # the median ECE a perfectly calibrated confidence shows on as many answers
    confident_right: float  # of answered pools with confidence >= 0.5, the share whose first choice is the answer
    confident_coverage: float  # answerable pools answered with confidence >= 0.5
    # (stated confidence, first choice's quote holds the answer) of every answer: pooled over pairs by the caller
    stated: tuple[tuple[float, bool], ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items() if k != "stated"}


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    p, n = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def score(
    selector: Selector, answerable: Sequence[Pool], removed: Sequence[Pool], joined: bool = False
) -> SelectionScores:
    best_a: list[float] = []
    best_r: list[float] = []
    stated: list[tuple[float, bool]] = []  # (confidence, the first choice's quote holds the answer) of answers
    right = quote_right = answered_right = baseline = reachable = over = confident_answerable = 0
    for pool in answerable:
        sel = selector.select(pool.question, pool.qvec, pool.candidates, pool.lang, joined, pool.seen)
        top = sel.order[0]
        right += int(pool.labels[top] == 1)
        quote_right += int(pool.quote_labels[top] == 1)
        answered_right += int(pool.labels[top] == 1 and sel.answered)
        baseline += int(pool.labels[0] == 1)  # pools are in today's rank order
        if sel.answered and sel.confidence is not None:
            stated.append((sel.confidence, bool(pool.quote_labels[top] == 1)))
            confident_answerable += int(sel.confidence >= CONFIDENT)
        if pool.labels.any():
            reachable += 1
            best_a.append(sel.top_score)
            over += int(not sel.answered)
    for pool in removed:
        sel = selector.select(pool.question, pool.qvec, pool.candidates, pool.lang, joined, pool.seen)
        best_r.append(sel.top_score)
        if sel.answered and sel.confidence is not None:
            stated.append((sel.confidence, False))
    refused_removed = sum(1 for x in best_r if x < selector.threshold)
    refused_answerable = sum(1 for x in best_a if x < selector.threshold)
    confident = [r for c, r in stated if c >= CONFIDENT]
    n = len(answerable)
    return SelectionScores(
        questions=n,
        accuracy=right / n if n else 0.0,
        quote_accuracy=quote_right / n if n else 0.0,
        answered_right=answered_right / n if n else 0.0,
        rank_baseline=baseline / n if n else 0.0,
        reachable=reachable / n if n else 0.0,
        refusal_recall=refused_removed / len(best_r) if best_r else 0.0,
        refusal_precision=refused_removed / max(1, refused_removed + refused_answerable),
        over_refusal=over / max(1, reachable),
        auroc=auroc(best_a, best_r),
        ece=reliability(stated)[0] if stated else float("nan"),
        ece_if_calibrated=ece_if_calibrated([c for c, _ in stated])[0] if stated else float("nan"),
        confident_right=sum(confident) / len(confident) if confident else float("nan"),
        confident_coverage=confident_answerable / n if n else 0.0,
        stated=tuple(stated),
    )


def design(pool_list: Sequence[Pool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For training, every pool's candidates stacked: their scalar features, their question's vector (the
    interactions of :func:`qa.select.features` are these two multiplied), and their labels."""
    scalars = [scalar_features(pool.question, pool.qvec, pool.candidates, pool.lang) for pool in pool_list]
    vectors = [
        np.repeat(np.asarray(pool.qvec, dtype=np.float32)[None, :], len(x), 0) for pool, x in zip(pool_list, scalars)
    ]
    return np.vstack(scalars), np.vstack(vectors), np.concatenate([pool.labels for pool in pool_list])


def score_test_quarter(
    embedder: Embedder,
    data: Path,
    pairs: Sequence[tuple[str, str]],
    selector: Selector,
    limit: int | None = None,
    mixed: bool = False,
    joined: bool = False,
) -> dict[str, SelectionScores]:
    """Selection scores on articles 36-47 for each (question language, paragraph language) pair.

    Every paragraph is in the pair's paragraph language; with ``mixed``, the other paragraphs come half the time
    in the question's language (as in a news store, where they outrank the answer). The baseline
    (``rank_baseline``) is today's rank order: the first candidate quoted.
    """
    langs = sorted({x for pair in pairs for x in pair})
    texts = {lang: read(data, lang, TEST_ARTICLES) for lang in langs}
    sents = {lang: sentences(embedder, lang, texts[lang][0]) for lang in (langs if mixed else {p for _, p in pairs})}
    quest = {lang: questions(embedder, lang, texts[lang][1]) for lang in {q for q, _ in pairs}}
    if joined:
        # Follow-ups, searched joined with an earlier question (``joined_questions``), judged as the assistant
        # judges them: with the threshold and the calibration of joined searches, the earlier answer lowered.
        quest = {lang: joined_questions(embedder, q, texts[lang][2]) for lang, q in quest.items()}
    out = {}
    for ql, pl in pairs:
        n = len(quest[ql].texts)
        which = list(range(n)) if limit is None or limit >= n else [i * n // limit for i in range(limit)]
        starts = [a for _, _, a in texts[pl][1]]
        by_lang = {lang: sents[lang] for lang in ((ql, pl) if mixed else (pl,))}
        seen = None
        if joined:
            seen = earlier_answers(quest[ql], by_lang, {lang: [a for _, _, a in texts[lang][1]] for lang in by_lang})
        answerable = pools(quest[ql], pl, by_lang, starts, which, seen=seen)
        removed = pools(quest[ql], pl, by_lang, starts, which, removed=True, seen=seen)
        out[f"{ql}->{pl}"] = score(selector, answerable, removed, joined)
    return out
