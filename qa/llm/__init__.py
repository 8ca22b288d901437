"""Language models behind one OpenAI-compatible interface: a remote endpoint or our own llama.cpp server.

``files`` makes the bundled model's GGUF, ``server`` runs llama.cpp on it, ``client`` talks to any
OpenAI-compatible endpoint and ``local`` joins the last two. Callers need only :func:`make_llm` and
:class:`LLM`; the rest is exported for the CLI (``ensure_model``) and tests.
"""

from __future__ import annotations

from qa.config import Config
from qa.errors import ConfigError
from qa.llm.client import LLM, OpenAILLM
from qa.llm.files import QWEN_CODER_1_5B, ModelSpec, ensure_model
from qa.llm.local import LocalLLM
from qa.llm.server import LocalServer

__all__ = ["LLM", "QWEN_CODER_1_5B", "LocalLLM", "LocalServer", "ModelSpec", "OpenAILLM", "ensure_model", "make_llm"]


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
        return LocalLLM(config, progress=progress)
    if not config.llm_base_url or not config.llm_model:
        raise ConfigError(
            "QA_LLM=openai needs OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1) and QA_LLM_MODEL "
            "(the model name the endpoint serves)"
        )
    if not config.llm_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must look like http://HOST:PORT/v1, not {config.llm_base_url!r}")
    return OpenAILLM(config.llm_base_url, config.llm_model, config.llm_api_key or "none", config.llm_timeout)
