"""Scores of answers against hand-written cases: pure functions, each returning a typed result with its reason.

Nothing here calls the library's own checks. Citation support in particular is judged independently of
the library's checks (gold source agreement plus the case's fact strings inside the cited text), so a run also
measures how often the library's verifier agrees with an outside judge.

Text matching (:func:`normalize`, :func:`occurs`) folds case, accents, Arabic letter variants and number
formats, so "3,000", "3000", "3.000", "3 000" and "٣٠٠٠" are the same string, and "Moskë" matches "Moske".
A fact matches at a word start (so "Kursk" finds the inflected "Kurskut"); short facts and facts with a
digit must also end at a word end (so "tre" does not match "tregoi", nor "11000" the number "111000").
In Arabic script a fact may follow only the clitics that attach to a word's start (و ف ب ل ك ال لل), so
"اليابان" is found in "واليابان" but "ريا" not in "عسكريا"; suffixes attach freely.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from evals.dataset import Case
from evals.statistics import percentile, ratio
from qa.types import Answer

TIMINGS = ("retrieve_s", "first_token_s", "total_s")

_SEPARATORS = ",. '\u066c"  # thousands separators after NFKC (which turns NBSP and narrow NBSP into spaces)
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}([,. '\u066c])\d{3}(?:\1\d{3})*(?!\d)")
_ARABIC_LETTERS = re.compile(r"[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]+$")
_ARABIC_CLITICS = re.compile(r"^(?:[وف]?[بلك]?(?:ال)?|[وف]?لل)$")
_DASHES = re.compile(r"[\u002d\u2010-\u2015\u2212]")
_ARABIC_FOLD = str.maketrans({"\u0629": "\u0647", "\u0649": "\u064a", "\u0640": None})
_MARK = r"\[\s*(?:source\s*)?\d{1,3}(?:\s*[,;]\s*(?:source\s*)?\d{1,3})*\s*\]"
_MARKER = re.compile(_MARK, re.I)
_SENTENCE_END = re.compile(
    rf"(?:[.!?\u061f\u3002\u2026]+[\"'\u201d\u2019\u00bb)]*(?:\s*{_MARK})*|(?:\s*{_MARK})+)(?=\s|$)", re.I
)

_QUOTED = re.compile(r"«[^«»]*»")


# --- text matching ---------------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Fold ``text`` for matching: case, accents, Arabic letter variants, dashes, digits and number groups."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_ARABIC_FOLD)
    text = _DASHES.sub(" ", text.replace("\u2019", "'"))
    text = " ".join(text.split())
    return _GROUPED.sub(lambda m: "".join(c for c in m.group(0) if c not in _SEPARATORS), text)


def occurs(fact: str, normalized_text: str) -> bool:
    """Whether the already normalized ``fact`` occurs in ``normalized_text`` at word boundaries (see above)."""
    if not fact:
        return False
    check_end = len(fact) < 5 or any(c.isdigit() for c in fact)
    for m in re.finditer(re.escape(fact), normalized_text):
        before = normalized_text[m.start() - 1] if m.start() else ""
        after = normalized_text[m.end()] if m.end() < len(normalized_text) else ""
        if _bounded(fact[0]) and _bounded(before):
            continue
        if (
            _arabic(fact[0])
            and (lead := _ARABIC_LETTERS.search(normalized_text, 0, m.start()))
            and not _ARABIC_CLITICS.match(lead.group(0))
        ):
            continue
        if check_end and _bounded(fact[-1]) and _bounded(after):
            continue
        return True
    return False


def _arabic(c: str) -> bool:
    return "\u0600" <= c <= "\u08ff" or "\ufb50" <= c <= "\ufeff"


def _bounded(c: str) -> bool:
    """A letter or digit of a script that separates words by boundaries (not Arabic)."""
    return bool(c) and c.isalnum() and not _arabic(c)


def _group_found(group: Sequence[str], normalized_text: str) -> str | None:
    return next((s for s in group if occurs(normalize(s), normalized_text)), None)


def _show(group: Sequence[str], most: int = 3) -> str:
    return " | ".join(group[:most]) + (" | …" if len(group) > most else "")


# --- retrieval -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalResult:
    """Where the first passage of a gold article ranks among the answer's passages."""

    rank: int | None  # 1-based; None when no passage comes from a gold article
    k: int  # passages looked at
    gold_found: int  # distinct gold articles among them
    gold: int
    reason: str

    @property
    def hit1(self) -> bool:
        return self.rank == 1

    @property
    def hit3(self) -> bool:
        return self.rank is not None and self.rank <= 3

    @property
    def hitk(self) -> bool:
        return self.rank is not None

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.rank if self.rank else 0.0


def retrieval(passage_sources: Sequence[str], gold_sources: Iterable[str]) -> RetrievalResult:
    """Rank of the first passage whose article is a gold source (hit@1, hit@3, hit@k and MRR derive from it)."""
    gold = set(gold_sources)
    rank = next((i for i, s in enumerate(passage_sources, 1) if s in gold), None)
    found = len(gold & set(passage_sources))
    if rank is None:
        reason = f"no gold article among the {len(passage_sources)} passages"
    else:
        reason = f"first gold passage at rank {rank}; {found} of {len(gold)} gold articles retrieved"
    return RetrievalResult(rank=rank, k=len(passage_sources), gold_found=found, gold=len(gold), reason=reason)


# --- answer content --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactResult:
    """Which fact groups the answer states: it is correct when every group matched one of its strings."""

    correct: bool
    matched: tuple[str | None, ...]  # per group, the string found (None: missing)
    reason: str


def key_facts(text: str, facts: Sequence[Sequence[str]]) -> FactResult:
    """Every group of acceptable strings must occur in ``text`` (case, accents and number formats folded)."""
    norm = normalize(text)
    matched = tuple(_group_found(g, norm) for g in facts)
    missing = [g for g, m in zip(facts, matched) if m is None]
    if not facts:
        reason = "no facts to check"
    elif missing:
        reason = "missing " + "; ".join(f"«{_show(g)}»" for g in missing)
    else:
        reason = "states " + ", ".join(f"«{m}»" for m in matched)
    return FactResult(correct=bool(facts) and not missing, matched=matched, reason=reason)


def first_claim(text: str) -> str:
    """What a reader takes from an answer's first line: the text up to its first ``[n]`` (the answer line, or
    the first quote when there is none)."""
    m = _MARKER.search(text)
    return text[: m.start()] if m else text


@dataclass(frozen=True)
class ContextResult:
    """A conversation case: whether the answer leaned on the earlier turns, and whether it should have."""

    kind: str
    needs_context: bool
    used: bool  # the question was searched rewritten from the conversation (``Answer.rewritten``)
    ok: bool  # used exactly when needed
    alone_correct: bool | None  # the same question asked with no history (None: not asked)
    reason: str


def context(case: Case, answer: Answer, alone: Answer | None) -> ContextResult | None:
    """Judge a conversation case's use of its history (None for a single question)."""
    if case.kind is None or case.needs_context is None:
        return None
    used = answer.rewritten is not None
    ok = used == case.needs_context
    alone_correct = None if alone is None else judge(replace(case, history=(), kind=None), alone).correct
    if case.needs_context:
        reason = "context used, as needed" if used else "searched alone though it needs the earlier turns"
    else:
        reason = "searched alone, as it stands alone" if not used else f"searched as «{answer.rewritten}»"
    return ContextResult(case.kind, case.needs_context, used, ok, alone_correct, reason)


@dataclass(frozen=True)
class ConflictResult:
    """Whether an answer where the articles disagree reports every one of the disagreeing figures."""

    handled: bool
    figures: tuple[str | None, ...]
    reason: str


def conflict(text: str, figures: Sequence[Sequence[str]]) -> ConflictResult:
    """Handled when all figures occur: picking one source's figure hides that the sources disagree."""
    found = key_facts(text, figures)
    given = [m for m in found.matched if m is not None]
    if found.correct:
        reason = f"gives all {len(figures)} figures ({', '.join(given)})"
    elif given:
        reason = f"gives only {', '.join(given)}; {found.reason}"
    else:
        reason = f"gives none of the {len(figures)} figures"
    return ConflictResult(handled=found.correct, figures=found.matched, reason=reason)


# --- refusal ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalResult:
    """Refusal as a classifier: positives are the cases that must be refused."""

    precision: float | None  # of the refusals, the share that were due (None: nothing refused)
    recall: float | None  # of the cases due a refusal, the share refused (None: none due)
    over_refusal: float | None  # of the answerable cases, the share refused
    tp: int
    fp: int
    fn: int
    tn: int
    reason: str


def refusal(expected: Sequence[bool], refused: Sequence[bool]) -> RefusalResult:
    if len(expected) != len(refused):
        raise ValueError("expected and refused must have one entry per case")
    pairs = list(zip(expected, refused))
    tp = sum(e and r for e, r in pairs)
    fp = sum(r and not e for e, r in pairs)
    fn = sum(e and not r for e, r in pairs)
    tn = sum(not e and not r for e, r in pairs)
    reason = f"refused {tp} of {tp + fn} cases that must be refused and {fp} of {fp + tn} answerable ones"
    return RefusalResult(
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        over_refusal=ratio(fp, fp + tn),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        reason=reason,
    )


# --- citations (ALCE) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """One sentence of an answer without its markers, and the passage numbers its markers cite."""

    text: str
    cites: tuple[int, ...]


def sentences(text: str) -> list[Sentence]:
    """Split an answer into sentences; markers right after a sentence's end belong to that sentence.

    A marker followed by white space also ends a sentence, so «quote» [1] «quote» [2] is two claims; a quote
    of two sentences, «…. …» [1], is one claim, cited as a whole, even across a line break.
    """
    out: list[Sentence] = []
    text = _QUOTED.sub(lambda m: " ".join(m.group().split()), text)  # a quote of two lines is still one claim
    for line in text.splitlines():
        start = 0
        pieces = []
        quoted = [q.span() for q in _QUOTED.finditer(line)]
        for m in _SENTENCE_END.finditer(line):
            if any(a < m.start() and m.end() < b for a, b in quoted):
                continue  # inside a quote
            pieces.append(line[start : m.end()])
            start = m.end()
        pieces.append(line[start:])
        for piece in pieces:
            cites = tuple(int(n) for mark in _MARKER.findall(piece) for n in re.findall(r"\d+", mark))
            words = re.sub(r"\s+([,.;:!?\u060c\u061f])", r"\1", " ".join(_MARKER.sub(" ", piece).split()))
            if any(c.isalnum() for c in words):
                out.append(Sentence(words, cites))
            elif cites and out:
                out[-1] = Sentence(out[-1].text, out[-1].cites + cites)
    return out


@dataclass(frozen=True)
class CitationVerdict:
    """One shown citation: the ``[n]`` of one sentence, judged against the case."""

    sentence: int  # 0-based index into the answer's sentences
    n: int
    source: str | None  # the cited passage's article (None: n points at no passage)
    supported: bool
    verified: bool | None  # what the library's verifier said (None: the answer has no Citation for n)
    reason: str


@dataclass(frozen=True)
class CitationResult:
    """ALCE citation precision and recall of one answer."""

    precision: float | None  # supported citations / shown citations (None: nothing cited)
    recall: float | None  # supported sentences / sentences (None: no sentences)
    sentences: int
    supported_sentences: int
    verdicts: tuple[CitationVerdict, ...]
    reason: str


def citations(answer: Answer, gold_sources: Iterable[str], facts: Sequence[Sequence[str]]) -> CitationResult:
    """Judge every ``[n]`` of the answer without the library's verifier.

    A citation supports its sentence when the cited passage comes from a gold article and, when the sentence
    states some of the case's fact groups, the passage text or the citation's quote holds a string of at
    least one of them (the passage may be in another language; the groups list the translations). A sentence
    is supported when it has a supporting citation and its supporting citations together hold every fact it
    states (ALCE: the citations entail the sentence), so "11,000 [1] and 10,000 [3]" needs both articles.
    """
    gold = set(gold_sources)
    sents = sentences(answer.text)
    verdicts: list[CitationVerdict] = []
    supported_sentences = 0
    for i, s in enumerate(sents):
        stated = [g for g in facts if _group_found(g, normalize(s.text))]
        covered: set[int] = set()
        any_support = False
        for n in dict.fromkeys(s.cites):
            shown = [c for c in answer.citations if c.n == n]
            verified = any(c.verified for c in shown) if shown else None
            if not 1 <= n <= len(answer.passages):
                verdicts.append(
                    CitationVerdict(
                        i,
                        n,
                        None,
                        False,
                        verified,
                        f"[{n}] points at no passage (the answer has {len(answer.passages)})",
                    )
                )
                continue
            passage = answer.passages[n - 1]
            if passage.source not in gold:
                verdicts.append(
                    CitationVerdict(i, n, passage.source, False, verified, f"{passage.source} is not a gold article")
                )
                continue
            cited = normalize(" ".join([passage.text] + [c.quote for c in shown]))
            holds = {j for j, g in enumerate(stated) if _group_found(g, cited)}
            if stated and not holds:
                verdicts.append(
                    CitationVerdict(
                        i,
                        n,
                        passage.source,
                        False,
                        verified,
                        "the cited text holds none of the facts the sentence states: "
                        + "; ".join(f"«{_show(g)}»" for g in stated),
                    )
                )
                continue
            covered |= holds
            any_support = True
            verdicts.append(
                CitationVerdict(
                    i,
                    n,
                    passage.source,
                    True,
                    verified,
                    "gold article" + (" holding the sentence's facts" if stated else ""),
                )
            )
        if any_support and len(covered) == len(stated):
            supported_sentences += 1
    good = sum(v.supported for v in verdicts)
    reason = (
        f"{good} of {len(verdicts)} citations support their sentence; "
        f"{supported_sentences} of {len(sents)} sentences are supported"
    )
    return CitationResult(
        precision=ratio(good, len(verdicts)),
        recall=ratio(supported_sentences, len(sents)),
        sentences=len(sents),
        supported_sentences=supported_sentences,
        verdicts=tuple(verdicts),
        reason=reason,
    )


# --- latency ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    n: int
    p50: float | None
    p95: float | None


def latency(values: Iterable[float | None]) -> Latency:
    """p50 and p95 of the measured values (missing timings are left out, not counted as zero)."""
    xs = [float(v) for v in values if v is not None]
    return Latency(n=len(xs), p50=percentile(xs, 50), p95=percentile(xs, 95))


# --- one case, and a run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """Everything measured about one case's answer, with a one-line reason for the verdict."""

    case: str
    lang: str
    type: str
    mode: str
    should_refuse: bool
    refused: bool
    correct: bool
    reason: str
    retrieval: RetrievalResult | None
    facts: FactResult | None
    conflict: ConflictResult | None
    citations: CitationResult | None
    timings: dict[str, float | None] = field(default_factory=dict)
    first_claim: bool | None = None  # every key fact in the answer's first claim (answerable cases)
    conversation: ContextResult | None = None
    confidence: float | None = None  # the answer's own calibrated confidence (None: refused, or not given)

    @property
    def right_first(self) -> bool:
        """What the answer's confidence claims: its first claim holds the facts (an answer to a question that
        must be refused never does)."""
        return bool(self.first_claim) and not self.should_refuse

    def to_dict(self) -> dict:
        return asdict(self)


def judge(case: Case, answer: Answer, alone: Answer | None = None) -> Judgement:
    """Score one answer: retrieval (when the case has gold articles), facts, conflict, refusal, citations; for a
    conversation case also its use of the earlier turns, and ``alone`` (the same question without them)."""
    ret = retrieval([p.source for p in answer.passages], case.sources) if case.sources else None
    facts = None if case.refuse else key_facts(answer.text, case.facts)
    clash = conflict(answer.text, case.facts) if case.type == "conflict" else None
    cites = None if answer.refused else citations(answer, case.sources, case.facts)
    if case.refuse:
        correct = answer.refused
        reason = "refused, as it should" if correct else "answered a question it should refuse"
    elif answer.refused:
        correct, reason = False, "refused an answerable question" + (f" ({answer.note})" if answer.note else "")
    else:
        result = clash or facts
        correct = result.handled if clash else result.correct
        reason = result.reason
    return Judgement(
        case=case.id,
        lang=case.lang,
        type=case.type,
        mode=answer.mode,
        should_refuse=case.refuse,
        refused=answer.refused,
        correct=correct,
        reason=reason,
        retrieval=ret,
        facts=facts,
        conflict=clash,
        citations=cites,
        timings={t: answer.timings.get(t) for t in TIMINGS},
        first_claim=None
        if case.refuse or case.type == "conflict"
        else (not answer.refused and key_facts(first_claim(answer.text), case.facts).correct),
        conversation=context(case, answer, alone),
        confidence=None if answer.refused else answer.confidence,
    )


CONFIDENT = 0.5  # the answer's own threshold for "likely right" (qa.answer.UNCERTAIN)
BINS = 10


@dataclass(frozen=True)
class Calibration:
    """How far an answer's stated confidence can be trusted, over the answers that state one.

    ECE: the gap between stated confidence and the share right (first claim holds the facts), averaged over
    ten equal-width bins weighted by their answers. Risk and coverage: of the answers stated as likely right
    (confidence >= ``CONFIDENT``), the share right; and the share of answerable questions that got one.
    """

    answers: int
    ece: float | None
    ece_if_calibrated: tuple[float, float] | None  # median and 95th percentile (``ece_if_calibrated``)
    confident: int
    confident_right: float | None
    coverage: float | None
    bins: tuple[tuple[float, float, int], ...]  # per bin: mean confidence, share right, answers

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "confidence.answers": self.answers,
            "confidence.ece": self.ece,
            "confidence.ece_if_calibrated": None if self.ece_if_calibrated is None else self.ece_if_calibrated[0],
            "confidence.ece_if_calibrated_p95": None if self.ece_if_calibrated is None else self.ece_if_calibrated[1],
            "confidence.confident": self.confident,
            "confidence.confident_right": self.confident_right,
            "confidence.coverage": self.coverage,
        }

    def diagram(self) -> dict:
        """What the reliability diagram is drawn from."""
        return {
            "bins": [list(b) for b in self.bins],
            "ece": self.ece,
            "answers": self.answers,
            "ece_if_calibrated": None if self.ece_if_calibrated is None else list(self.ece_if_calibrated),
        }


def bin_of(confidences: np.ndarray) -> np.ndarray:
    """The equal-width bin (0 .. ``BINS`` - 1) each confidence falls in; 1.0 goes in the last."""
    return np.minimum((np.asarray(confidences, dtype=np.float64) * BINS).astype(int), BINS - 1)


def reliability(stated: Sequence[tuple[float, bool]]) -> tuple[float, tuple[tuple[float, float, int], ...]]:
    """The expected calibration error of (stated confidence, was right) pairs over ``BINS`` equal-width bins,
    and per bin its mean confidence, share right and count."""
    where = bin_of(np.asarray([c for c, _ in stated]))
    bins = []
    for b in range(BINS):
        inside = [x for x, w in zip(stated, where) if w == b]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            bins.append((round(conf, 4), round(sum(r for _, r in inside) / len(inside), 4), len(inside)))
    return round(sum(n * abs(c - r) for c, r, n in bins) / len(stated), 4), tuple(bins)


def ece_if_calibrated(confidences: Sequence[float], draws: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The ECE a perfectly calibrated confidence would show on answers stated with these ``confidences`` (each
    answer right with exactly its stated probability, drawn ``draws`` times with a fixed seed): its median and
    95th percentile. With few answers ten bins hold a handful each, and chance alone opens gaps: an ECE below the
    95th percentile is within what so few answers can tell from perfect calibration."""
    c = np.asarray(confidences, dtype=np.float64)
    if not len(c):
        raise ValueError("no confidences: there is no ECE to compare")
    one_hot = np.eye(BINS)[bin_of(c)]  # answers x bins
    right = np.random.default_rng(seed).random((draws, len(c))) < c
    eces = np.sort(np.abs(right @ one_hot - c @ one_hot).sum(axis=1) / len(c))
    return round(float(eces[draws // 2]), 4), round(float(eces[int(0.95 * (draws - 1))]), 4)


def calibration(judgements: Sequence[Judgement]) -> Calibration | None:
    stated = [(j.confidence, j.right_first) for j in judgements if j.confidence is not None]
    if not stated:
        return None
    ece, bins = reliability(stated)
    confident = [right for conf, right in stated if conf >= CONFIDENT]
    answerable = [j for j in judgements if not j.should_refuse and j.type != "conflict"]
    return Calibration(
        answers=len(stated),
        ece=ece,
        ece_if_calibrated=ece_if_calibrated([c for c, _ in stated]),
        confident=len(confident),
        confident_right=_mean(confident),
        coverage=_mean(j.confidence is not None and j.confidence >= CONFIDENT for j in answerable),
        bins=bins,
    )


@dataclass(frozen=True)
class Scores:
    """A run (or one slice of it) summed up; ``to_dict`` gives the flat metric names the gate and reports use."""

    cases: int
    accuracy: float | None  # right answer or right refusal, over all cases
    answer: float | None  # facts correct, over cases that must be answered
    answer_cases: int
    conflict: float | None
    conflict_cases: int
    refusal: RefusalResult
    hit1: float | None
    hit3: float | None
    hitk: float | None
    mrr: float | None
    retrieval_cases: int
    citation_precision: float | None  # mean over answers that cite (ALCE averages per answer)
    citation_recall: float | None  # mean over answers given (not refused)
    citations_shown: int
    verifier_agreement: float | None  # share of citations where qa.cite's verdict equals ours
    verifier_checked: int
    latency: dict[str, Latency]
    first_claim: float | None = None  # every key fact before the first [n], over answerable cases
    context_needed: float | None = None  # conversation cases that need the earlier turns: the share that used them
    context_alone: float | None = None  # conversation cases that stand alone: the share searched alone
    context_cases: int = 0
    alone_correct: float | None = None  # self-contained conversation questions: right when asked alone
    alone_cases: int = 0
    calibration: Calibration | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "cases": self.cases,
            "accuracy": self.accuracy,
            "answer.correct": self.answer,
            "answer.first_claim": self.first_claim,
            "answer.cases": self.answer_cases,
            "conflict.correct": self.conflict,
            "conflict.cases": self.conflict_cases,
            "refusal.precision": self.refusal.precision,
            "refusal.recall": self.refusal.recall,
            "refusal.over_refusal": self.refusal.over_refusal,
            "refusal.cases": self.refusal.tp + self.refusal.fn,
            "retrieval.hit@1": self.hit1,
            "retrieval.hit@3": self.hit3,
            "retrieval.hit@k": self.hitk,
            "retrieval.mrr": self.mrr,
            "retrieval.cases": self.retrieval_cases,
            "citations.precision": self.citation_precision,
            "citations.recall": self.citation_recall,
            "citations.shown": self.citations_shown,
            "citations.verifier_agreement": self.verifier_agreement,
            "citations.verifier_checked": self.verifier_checked,
        }
        if self.calibration is not None:
            out |= self.calibration.to_dict()
        if self.context_cases:
            out |= {
                "context.used_when_needed": self.context_needed,
                "context.alone_when_standalone": self.context_alone,
                "context.cases": self.context_cases,
                "context.correct_alone": self.alone_correct,
                "context.alone_cases": self.alone_cases,
            }
        for name, lat in self.latency.items():
            out[f"latency.{name}.p50"] = lat.p50
            out[f"latency.{name}.p95"] = lat.p95
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def score(judgements: Sequence[Judgement]) -> Scores:
    answerable = [j for j in judgements if not j.should_refuse]
    clashes = [j.conflict for j in judgements if j.conflict is not None]
    rets = [j.retrieval for j in judgements if j.retrieval is not None]
    cites = [j.citations for j in judgements if j.citations is not None]
    cited = [c for c in cites if c.precision is not None]
    verdicts = [v for c in cites for v in c.verdicts]
    checked = [v for v in verdicts if v.verified is not None]
    convs = [j.conversation for j in judgements if j.conversation is not None]
    return Scores(
        cases=len(judgements),
        accuracy=_mean(j.correct for j in judgements),
        answer=_mean(j.correct for j in answerable),
        answer_cases=len(answerable),
        conflict=_mean(c.handled for c in clashes),
        conflict_cases=len(clashes),
        refusal=refusal([j.should_refuse for j in judgements], [j.refused for j in judgements]),
        hit1=_mean(r.hit1 for r in rets),
        hit3=_mean(r.hit3 for r in rets),
        hitk=_mean(r.hitk for r in rets),
        mrr=_mean(r.reciprocal_rank for r in rets),
        retrieval_cases=len(rets),
        citation_precision=_mean(c.precision for c in cited),
        citation_recall=_mean(c.recall for c in cites if c.recall is not None),
        citations_shown=len(verdicts),
        verifier_agreement=_mean(v.verified == v.supported for v in checked),
        verifier_checked=len(checked),
        latency={t: latency(j.timings.get(t) for j in judgements) for t in TIMINGS},
        first_claim=_mean(j.first_claim for j in answerable if j.first_claim is not None),
        context_needed=_mean(c.used for c in convs if c.needs_context),
        context_alone=_mean(not c.used for c in convs if not c.needs_context),
        context_cases=len(convs),
        alone_correct=_mean(c.alone_correct for c in convs if c.alone_correct is not None),
        alone_cases=sum(c.alone_correct is not None for c in convs),
        calibration=calibration(judgements),
    )


def breakdown(judgements: Sequence[Judgement], key: Callable[[Judgement], str]) -> dict[str, Scores]:
    """Scores per group (e.g. ``key=lambda j: j.lang``), groups sorted by name."""
    groups: dict[str, list[Judgement]] = {}
    for j in judgements:
        groups.setdefault(key(j), []).append(j)
    return {name: score(groups[name]) for name in sorted(groups)}


def _mean(values: Iterable[float | bool]) -> float | None:
    xs = [float(v) for v in values]
    return sum(xs) / len(xs) if xs else None
