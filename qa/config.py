"""One settings object, read from ``QA_*`` environment variables; CLI flags override single fields."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUNDLED_ARTICLES = PROJECT_DIR / "data" / "articles"
LLM_MODES = ("local", "openai", "none")


@dataclass(frozen=True)
class Config:
    store: Path = PROJECT_DIR / "data" / "store"  # QA_STORE: folder of the embedded Chroma store
    chroma_url: str | None = None  # QA_CHROMA_URL: use a Chroma server instead, e.g. http://127.0.0.1:8000
    collection: str = "articles"  # QA_COLLECTION
    cache_dir: Path = Path.home() / ".cache" / "qa"  # QA_CACHE_DIR: model file and embedding cache
    llm: str = "local"  # QA_LLM: local | openai | none
    llm_model: str | None = None  # QA_LLM_MODEL: model name sent to an OpenAI-compatible endpoint
    llm_base_url: str | None = None  # OPENAI_BASE_URL
    llm_api_key: str | None = None  # OPENAI_API_KEY
    llm_timeout: float = 60.0  # QA_LLM_TIMEOUT: seconds for one LLM request
    llm_threads: int = 2  # QA_LLM_THREADS: threads of the local llama.cpp server
    model_path: Path | None = None  # QA_MODEL_PATH: a GGUF to serve instead of the bundled Qwen build
    k: int = 5  # QA_K: passages shown with an answer
    max_file_mb: float = 5.0  # QA_MAX_FILE_MB: larger files are refused at ingest

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Config":
        env = dict(os.environ if env is None else env)
        values: dict = {}
        paths = {"QA_STORE": "store", "QA_CACHE_DIR": "cache_dir", "QA_MODEL_PATH": "model_path"}
        for var, name in paths.items():
            if env.get(var):
                values[name] = Path(env[var]).expanduser()
        strings = {"QA_CHROMA_URL": "chroma_url", "QA_COLLECTION": "collection", "QA_LLM": "llm",
                   "QA_LLM_MODEL": "llm_model", "OPENAI_BASE_URL": "llm_base_url", "OPENAI_API_KEY": "llm_api_key"}
        for var, name in strings.items():
            if env.get(var):
                values[name] = env[var].strip()
        numbers = {"QA_LLM_TIMEOUT": ("llm_timeout", float), "QA_LLM_THREADS": ("llm_threads", int),
                   "QA_K": ("k", int), "QA_MAX_FILE_MB": ("max_file_mb", float)}
        for var, (name, kind) in numbers.items():
            if env.get(var):
                try:
                    values[name] = kind(env[var])
                except ValueError:
                    raise ConfigError(f"{var}={env[var]!r} is not a number; unset it or give e.g. {var}=5") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def with_(self, **changes) -> "Config":
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def validated(self) -> "Config":
        if self.llm not in LLM_MODES:
            raise ConfigError(f"QA_LLM / --llm must be one of {', '.join(LLM_MODES)}, not {self.llm!r}")
        if self.llm_timeout <= 0 or self.llm_threads < 1 or self.max_file_mb <= 0:
            raise ConfigError("QA_LLM_TIMEOUT, QA_LLM_THREADS and QA_MAX_FILE_MB must be positive")
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(f"QA_CHROMA_URL must look like http://HOST:PORT, not {self.chroma_url!r}")
        return self

    @property
    def store_location(self) -> str:
        return self.chroma_url or str(self.store)
