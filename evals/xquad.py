"""``python -m evals xquad``: cross-lingual paragraph retrieval on XQuAD (Artetxe et al., 2020).

All 240 paragraphs of one language are indexed, the 1,190 questions of another language are asked, and a
question is answered well when the paragraph that holds its answer ranks high (R@1, R@5, MRR@10, nDCG@10).
Question ids are the same in every language, so the gold paragraph of a question is the paragraph of the
passage language whose ``qas`` holds that id. Each paragraph is indexed whole, as one passage.

``--store chroma`` (the default) measures what users get: the paragraphs go into a real Chroma collection
made by :func:`qa.store.open_store` (same HNSW settings, same embedder check) in a temporary folder, and
every question goes through :meth:`qa.answer.Assistant.search`: question check, llama-index retriever,
Chroma query, and the sentence rerank of :class:`qa.retrieve.Retriever`. A question asks for ``DEPTH`` (10)
paragraphs, fewer than ``qa.retrieve.CANDIDATES``, so the rerank sees the same nearest paragraphs as in the
app. ``--store memory`` ranks the paragraph vectors by exact cosine similarity in numpy: the embedder alone,
without store, retriever or rerank, which is the figure to compare with published dense-retrieval results.

Vectors come from :class:`qa.embed.Embedder` with the user's embedding cache, so a repeated run embeds
nothing. As ingest does, indexing also puts every sentence's vector in that cache (the rerank reads them),
and questions are embedded in batches first; the timed search then costs what a user's search costs.
The data is read by path and never copied (CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from evals.args import positive_int
from evals.metrics import ece_if_calibrated, reliability, retrieval
from evals.reliability import draw
from qa.answer import Assistant
from qa.config import PROJECT_DIR, Config
from qa.embed import Embedder
from qa.errors import InputError, QAError
from qa.store import open_store
from qa.text import split_sentences

DEFAULT_DATA = PROJECT_DIR.parent / "shared" / "benchmarks" / "xquad"
DEFAULT_LANGS = ("en", "ar", "de", "zh")
DEPTH = 10  # paragraphs asked for (nDCG@10); a gold paragraph below them counts as not found
STORES = ("chroma", "memory")
SLICE = 128  # texts per embedder call, one step of the progress bar


@dataclass(frozen=True)
class Paragraph:
    id: str
    text: str
    title: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class XQuAD:
    """One language of XQuAD: its paragraphs, its questions, and which paragraph answers which question."""

    lang: str
    path: Path
    paragraphs: list[Paragraph]
    questions: list[Question]
    gold: dict[str, str]  # question id -> paragraph id


def languages(data: Path) -> list[str]:
    return sorted(p.name.split(".")[1] for p in data.glob("xquad.*.json"))


def load(data: Path, lang: str) -> XQuAD:
    """Read ``data/xquad.<lang>.json`` (SQuAD v1.1 JSON)."""
    if not data.is_dir():
        raise InputError(f"no folder {data}; pass --data DIR with the xquad.<lang>.json files")
    path = data / f"xquad.{lang}.json"
    if not path.is_file():
        raise InputError(
            f"no XQuAD file for {lang!r} at {path} (found: {', '.join(languages(data)) or 'none'}); "
            "pass another language or --data DIR"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    try:
        doc = json.loads(text)
        paragraphs, questions, gold = [], [], {}
        for article in doc["data"]:
            for p in article["paragraphs"]:
                pid = f"{lang}-{len(paragraphs)}"
                paragraphs.append(Paragraph(id=pid, text=p["context"], title=article["title"]))
                for qa in p["qas"]:
                    questions.append(Question(id=qa["id"], text=qa["question"].strip()))
                    gold[qa["id"]] = pid
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(
            f"{path} is not SQuAD JSON ({e.__class__.__name__}: {e}); point --data at the XQuAD release files"
        ) from None
    if not paragraphs:
        raise InputError(f"{path} has no paragraphs; point --data at the XQuAD release files")
    return XQuAD(lang=lang, path=path, paragraphs=paragraphs, questions=questions, gold=gold)


def spread(items: Sequence, n: int | None) -> list:
    """``n`` items evenly spread over ``items`` (all of them when ``n`` is None or too large).

    XQuAD lists questions article by article, so the first ``n`` would all be about one topic.
    """
    if n is None or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


# Metrics: one relevant paragraph per question; a rank is 1-based (``evals.metrics.retrieval``), None when
# the paragraph is not retrieved.


def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose gold paragraph is among the first ``k``."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank; a question whose paragraph was not retrieved counts 0 (so it is MRR@depth)."""
    return sum(1 / r for r in ranks if r is not None) / len(ranks) if ranks else 0.0


def ndcg_at(ranks: Sequence[int | None], k: int) -> float:
    """Mean nDCG@k; with a single relevant item the ideal DCG is 1, so it is 1/log2(rank + 1)."""
    return sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


@dataclass(frozen=True)
class RetrievalScores:
    """R@1, R@5, MRR@10 and nDCG@10 of one (question language, paragraph language) run."""

    n: int
    recall_1: float
    recall_5: float
    mrr: float
    ndcg_10: float

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "recall@1": round(self.recall_1, 4),
            "recall@5": round(self.recall_5, 4),
            "mrr@10": round(self.mrr, 4),
            "ndcg@10": round(self.ndcg_10, 4),
        }


def retrieval_scores(ranks: Sequence[int | None]) -> RetrievalScores:
    return RetrievalScores(
        n=len(ranks),
        recall_1=recall_at_k(ranks, 1),
        recall_5=recall_at_k(ranks, 5),
        mrr=mrr(ranks),
        ndcg_10=ndcg_at(ranks, 10),
    )


# Indexes: the paragraphs of one language, searched by many questions.


class Index(Protocol):
    def search(self, questions: list[str]) -> list[list[str]]:
        """Paragraph ids, best first (``DEPTH`` of them), for each question."""


class ChromaIndex:
    """The paragraphs in a real Chroma collection, searched the way users search: ``Assistant.search``."""

    def __init__(self, xq: XQuAD, embedder: Embedder, config: Config) -> None:
        store = open_store(config, embedder.name, embedder.dim, create=True)
        vectors = embed(embedder, [p.text for p in xq.paragraphs], f"embed {xq.lang} paragraphs")
        embed(
            embedder,
            [p.text[s.start : s.end] for p in xq.paragraphs for s in split_sentences(p.text, xq.lang)],
            f"embed {xq.lang} sentences",
        )
        source = xq.path.name
        store.add(
            ids=[p.id for p in xq.paragraphs],
            documents=[p.text for p in xq.paragraphs],
            embeddings=vectors,
            metadatas=[
                {
                    "source": source,
                    "path": f"{xq.path}#{p.id}",
                    "title": p.title,
                    "lang": xq.lang,
                    "start": 0,
                    "end": len(p.text),
                }
                for p in xq.paragraphs
            ],
        )
        self._embedder = embedder
        self._assistant = Assistant(config, embedder, store)

    def search(self, questions: list[str]) -> list[list[str]]:
        embed(self._embedder, questions, "embed questions", query=True)  # the retriever reads them from the cache
        return [
            [p.id for p in self._assistant.search(q, k=DEPTH)]
            for q in tqdm(questions, unit="question", desc="search", leave=False)
        ]


class MemoryIndex:
    """Exact cosine ranking of the same vectors in numpy: the embedder alone, without store or retriever."""

    def __init__(self, xq: XQuAD, embedder: Embedder) -> None:
        self._ids = [p.id for p in xq.paragraphs]
        self._vectors = _unit(embed(embedder, [p.text for p in xq.paragraphs], f"embed {xq.lang} paragraphs"))
        self._embedder = embedder

    def search(self, questions: list[str]) -> list[list[str]]:
        sims = _unit(embed(self._embedder, questions, "embed questions", query=True)) @ self._vectors.T
        order = np.argsort(-sims, axis=1, kind="stable")[:, :DEPTH]
        return [[self._ids[j] for j in row] for row in order]


def embed(embedder: Embedder, texts: Sequence[str], desc: str, query: bool = False) -> np.ndarray:
    """The embedder's vectors with a progress bar, since a cold run takes minutes.

    Texts go in length order, as one embedder call would batch them, so slicing adds no padding.
    """
    fn = embedder.queries if query else embedder.passages
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), unit="text", desc=desc, leave=False) as bar:
        for i in range(0, len(order), SLICE):
            part = order[i : i + SLICE]
            out[part] = fn([texts[j] for j in part])
            bar.update(len(part))
    return out


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def run(
    pairs: list[tuple[str, str]], data: Path, store: str, limit: int | None, embedder: Embedder, config: Config
) -> dict:
    """Score every (question language, passage language) pair; one index per passage language."""
    t0 = time.perf_counter()
    sets = {lang: load(data, lang) for lang in dict.fromkeys(lang for pair in pairs for lang in pair)}
    indexes: dict[str, dict] = {}
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="xquad-store-", ignore_cleanup_errors=True) as tmp:
        for p_lang in dict.fromkeys(p for _, p in pairs):
            passages = sets[p_lang]
            t, calls = time.perf_counter(), embedder.engine_calls
            if store == "chroma":
                cfg = replace(config, store=Path(tmp), chroma_url=None, collection=f"xquad-{p_lang}", llm="none")
                index: Index = ChromaIndex(passages, embedder, cfg)
            else:
                index = MemoryIndex(passages, embedder)
            indexes[p_lang] = {
                "paragraphs": len(passages.paragraphs),
                "embedded": embedder.engine_calls - calls,
                "seconds": round(time.perf_counter() - t, 3),
            }
            for q_lang in (q for q, p in pairs if p == p_lang):
                runs.append(_ask(sets[q_lang], passages, index, limit, embedder))
    return {
        "benchmark": "xquad",
        "embedder": embedder.name,
        "store": store,
        "data": str(data),
        "limit": limit,
        "depth": DEPTH,
        "indexes": indexes,
        "runs": runs,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _ask(questions: XQuAD, passages: XQuAD, index: Index, limit: int | None, embedder: Embedder) -> dict:
    asked = spread(questions.questions, limit)
    missing = [q.id for q in asked if q.id not in passages.gold]
    if missing:
        raise InputError(
            f"{len(missing)} questions of {questions.path.name} (e.g. {missing[0]}) have no paragraph "
            f"in {passages.path.name}; use files from one XQuAD release"
        )
    t, calls = time.perf_counter(), embedder.engine_calls
    rankings = index.search([q.text for q in asked])
    seconds = time.perf_counter() - t
    ranks = [retrieval(r, [passages.gold[q.id]]).rank for q, r in zip(asked, rankings)]
    return {
        "questions": questions.lang,
        "passages": passages.lang,
        **retrieval_scores(ranks).to_dict(),
        "embedded": embedder.engine_calls - calls,
        "seconds": round(seconds, 3),
        "questions_per_second": round(len(asked) / seconds, 1) if seconds else None,
    }


def table(result: dict) -> str:
    head = f"{'questions → passages':<22}{'n':>6}{'R@1':>8}{'R@5':>8}{'MRR@10':>8}{'nDCG@10':>9}{'seconds':>9}"
    rows = [
        f"{r['questions'] + ' → ' + r['passages']:<22}{r['n']:>6}{r['recall@1']:>8.3f}{r['recall@5']:>8.3f}"
        f"{r['mrr@10']:>8.3f}{r['ndcg@10']:>9.3f}{r['seconds']:>9.1f}"
        for r in result["runs"]
    ]
    return "\n".join([head, *rows, f"{result['store']} store, {result['embedder']}, {result['seconds']:.1f} s in all"])


def answers(
    pairs: list[tuple[str, str]], data: Path, limit: int | None, embedder: Embedder, mixed: bool, joined: bool = False
) -> dict:
    """Answer-sentence selection and refusal on the test quarter, with today's rank order as the baseline;
    ``joined``: each question searched as a follow-up, after an earlier question of its article."""
    from evals.selection import score_test_quarter
    from qa.select import Selector

    t = time.perf_counter()
    selector = Selector.load()
    runs = score_test_quarter(embedder, data, pairs, selector, limit, mixed, joined)
    return {
        "articles": "36-47 (test quarter)",
        "mixed": mixed,
        "joined": joined,
        "threshold": round((selector.as_joined() if joined else selector).threshold, 4),
        "runs": {pair: s.to_dict() for pair, s in runs.items()},
        "pooled": pooled_calibration([x for s in runs.values() for x in s.stated]),
        "embedder": embedder.name,
        "seconds": round(time.perf_counter() - t, 1),
    }


def pooled_calibration(stated: Sequence[tuple[float, bool]]) -> dict:
    """The calibration of every pair's answers taken together: the ECE of all of them (each pair alone holds a
    few hundred answers, whose ECE chance alone raises: the table's mean of per-pair ECEs mixes that noise, and the
    pairs' differences, into the figure), with what a calibrated confidence would show on as many, and the bins
    of the reliability diagram."""
    if not stated:
        return {"answers": 0, "ece": None, "ece_if_calibrated": None, "bins": []}
    ece, bins = reliability(stated)
    return {
        "answers": len(stated),
        "ece": ece,
        "ece_if_calibrated": list(ece_if_calibrated([c for c, _ in stated])),
        "bins": [list(b) for b in bins],
    }


def answers_table(result: dict) -> str:
    cols = (
        "questions",
        "accuracy",
        "quote_accuracy",
        "rank_baseline",
        "answered_right",
        "reachable",
        "refusal_recall",
        "refusal_precision",
        "over_refusal",
        "auroc",
        "ece",
        "ece_if_calibrated",
        "confident_right",
        "confident_coverage",
    )
    head = f"{'questions → passages':<22}" + "".join(f"{c.replace('_', ' '):>18}" for c in cols)
    rows = [
        f"{pair.replace('->', ' → '):<22}"
        + "".join(f"{r[c]:>18}" if isinstance(r[c], int) else f"{r[c]:>18.3f}" for c in cols)
        for pair, r in result["runs"].items()
    ]
    mean = {c: sum(r[c] for r in result["runs"].values()) / len(result["runs"]) for c in cols[1:]}
    rows.append(f"{'mean':<22}{'':>18}" + "".join(f"{mean[c]:>18.3f}" for c in cols[1:]))
    kind = "mixed-language distractors" if result["mixed"] else "one paragraph language"
    foot = f"test quarter, {kind}, selector threshold {result['threshold']}, {result['seconds']:.1f} s"
    pooled = result["pooled"]
    if pooled["answers"]:
        median, p95 = pooled["ece_if_calibrated"]
        rows.append(
            f"{'all pairs pooled':<22}{pooled['answers']:>18}  answers: ECE {pooled['ece']:.3f} "
            f"(a calibrated confidence shows {median:.3f}, 95th percentile {p95:.3f}, on as many answers)"
        )
    return "\n".join([head, *rows, foot])


def write_json(path: Path, result: dict) -> None:
    """The figures as JSON (``--out``), for comparing runs later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}; pass another --out") from None


def write_diagram(path: Path, pooled: dict) -> Path:
    """The reliability diagram of the pooled answers (``pooled_calibration``) as a PNG."""
    title = "Reliability, XQuAD test quarter, all pairs"
    try:
        return draw(pooled["bins"], pooled["ece"], pooled["answers"], path, title, right="quote holds the answer")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}; pass another --out") from None


def _langs(text: str) -> list[str]:
    langs = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    if not langs:
        raise argparse.ArgumentTypeError("give languages separated by commas, e.g. en,ar,de")
    return langs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m evals xquad",
        description="Cross-lingual paragraph retrieval on XQuAD: R@1, R@5, MRR@10 and nDCG@10.",
    )
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder of xquad.<lang>.json (default {DEFAULT_DATA})"
    )
    ap.add_argument("--passages", help="language of the indexed paragraphs (default en)")
    ap.add_argument("--questions", help="language of the questions (default en)")
    ap.add_argument("--matrix", action="store_true", help="every pair of --langs (questions × passages)")
    ap.add_argument(
        "--langs",
        type=_langs,
        default=list(DEFAULT_LANGS),
        help=f"languages for --matrix, comma-separated (default {','.join(DEFAULT_LANGS)})",
    )
    ap.add_argument("--limit", type=positive_int, help="ask only N questions, evenly spread (default all 1,190)")
    ap.add_argument(
        "--answers",
        action="store_true",
        help="score answer-sentence selection and refusal instead, on the test quarter (articles 36-47) only",
    )
    ap.add_argument(
        "--mixed",
        action="store_true",
        help="with --answers: the other paragraphs half the time in the question's language (as in a news store)",
    )
    ap.add_argument(
        "--joined",
        action="store_true",
        help="with --answers: each question searched as a follow-up is, joined after an earlier one of its article",
    )
    ap.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    ap.add_argument(
        "--store",
        choices=STORES,
        default="chroma",
        help="chroma: a real Chroma collection searched like the app (default); memory: exact numpy cosine",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    if a.matrix and (a.passages or a.questions):
        ap.error("--matrix asks every pair of --langs; drop --passages/--questions or drop --matrix")
    pairs = [(q, p) for p in a.langs for q in a.langs] if a.matrix else [(a.questions or "en", a.passages or "en")]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env()
        embedder = Embedder.from_config(config)
        if a.answers:
            result = answers(pairs, a.data, a.limit, embedder, a.mixed, a.joined)
            print(answers_table(result))
        else:
            result = run(pairs, a.data, a.store, a.limit, embedder, config)
            print(table(result))
        if a.out:
            write_json(a.out, result)
            if a.answers and result["pooled"]["answers"]:
                print(f"reliability diagram: {write_diagram(a.out.with_suffix('.reliability.png'), result['pooled'])}")
    except QAError as e:
        print(f"evals xquad: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
