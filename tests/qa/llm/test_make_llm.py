"""qa/llm/__init__.py: ``make_llm`` builds the model the settings ask for, or says which setting is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import ConfigError
from qa.llm import LocalLLM, OpenAILLM, make_llm
from qa.types import LLMState


def _children() -> set[int]:
    """Process ids of this process's children (from /proc)."""
    me = str(os.getpid())
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            out.add(int(stat.parent.name))
    return out


def test_make_llm_modes(tmp_path):
    assert make_llm(Config(llm="none")) is None
    children = _children()
    local = make_llm(Config(llm="local", cache_dir=tmp_path))
    assert isinstance(local, LocalLLM) and local.status == "not started"
    assert local.state is LLMState.NOT_STARTED
    assert local.name == "local qwen2.5-coder-1.5b-instruct-q4_k_m"
    # Nothing is assembled, downloaded or started before the first question.
    assert list(tmp_path.iterdir()) == [] and _children() == children
    local.close()
    remote = make_llm(Config(llm="openai", llm_base_url="https://api.example.com/v1", llm_model="gpt-x"))
    assert remote.name == "openai gpt-x at api.example.com"
    assert remote.state is LLMState.READY and remote.status == "ready"
    assert OpenAILLM("https://user:pw@llm.example.com:8443/v1", "m").name == "openai m at llm.example.com:8443"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"llm": "openai", "llm_model": "gpt-x"}, "OPENAI_BASE_URL"),
        ({"llm": "openai", "llm_base_url": "http://127.0.0.1:1/v1"}, "QA_LLM_MODEL"),
        ({"llm": "openai", "llm_base_url": "127.0.0.1:8080", "llm_model": "m"}, "must look like http"),
        ({"llm": "local", "model_path": Path("/nonexistent/model.gguf")}, "QA_MODEL_PATH"),
    ],
)
def test_make_llm_refuses_unusable_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_llm(Config(**changes))
