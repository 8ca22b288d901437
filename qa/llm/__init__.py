"""Language models behind one OpenAI-compatible interface: a remote endpoint or our own llama.cpp server.

``base`` is the interface, ``files`` makes the bundled model's GGUF, ``server`` runs llama.cpp on it (``shared``
lets the processes of a machine use one server), ``client`` talks to any OpenAI-compatible endpoint and
``local`` joins the last two. Callers need only :func:`make_llm` and :class:`LLM`, loaded with the package;
the rest is exported for the CLI and tests and imported on first use, so that a process that answers without a
model (``python -m qa search``) never loads the ``openai`` client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from qa.config import Config
from qa.errors import ConfigError
from qa.llm.base import LLM

if TYPE_CHECKING:
    from qa.llm.client import OpenAILLM
    from qa.llm.files import QWEN_CODER_1_5B, ModelSpec, ensure_model
    from qa.llm.local import LocalLLM
    from qa.llm.server import LocalServer

__all__ = ["LLM", "QWEN_CODER_1_5B", "LocalLLM", "LocalServer", "ModelSpec", "OpenAILLM", "ensure_model", "make_llm"]

_LAZY = {
    "OpenAILLM": "qa.llm.client",
    "QWEN_CODER_1_5B": "qa.llm.files",
    "ModelSpec": "qa.llm.files",
    "ensure_model": "qa.llm.files",
    "LocalLLM": "qa.llm.local",
    "LocalServer": "qa.llm.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_llm(config: Config, progress: bool = True) -> LLM | None:
    """The model ``config.llm`` asks for; None for ``none`` (answers are then extractive)."""
    if config.llm == "none":
        return None
    if config.llm == "local":
        if config.model_path is not None and not config.model_path.is_file():
            raise ConfigError(
                f"QA_MODEL_PATH={config.model_path} is not a file; point it to a GGUF model "
                "or unset it to use the bundled one"
            )
        from qa.llm.local import LocalLLM

        return LocalLLM(config, progress=progress)
    if not config.llm_base_url or not config.llm_model:
        raise ConfigError(
            "QA_LLM=openai needs OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1) and QA_LLM_MODEL "
            "(the model name the endpoint serves)"
        )
    if not config.llm_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must look like http://HOST:PORT/v1, not {config.llm_base_url!r}")
    from qa.llm.client import OpenAILLM

    return OpenAILLM(config.llm_base_url, config.llm_model, config.llm_api_key or "none", config.llm_timeout)
