"""evals/bench/query.py: exact vs approximate neighbours, the derived vectors, the filled stores and the
Chroma server the benchmark starts."""

from __future__ import annotations

import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from evals.bench import main
from evals.bench.query import NOISE, _fill, chroma_server, copy_id, derive, exact_top, neighbour_recall
from qa.store import StoredRows


def test_recall_counts_the_exact_neighbours_found():
    exact = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    assert neighbour_recall(exact, exact, 4) == 1.0
    assert neighbour_recall([["a", "b", "x", "y"], ["h", "g", "f", "e"]], exact, 4) == pytest.approx(0.75)
    assert neighbour_recall([["a", "x"], ["y", "z"]], exact, 2) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        neighbour_recall([["a"]], exact, 1)


def test_exact_search_ranks_by_cosine():
    m = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0], [0, 0, 5]], dtype=np.float32)
    q = np.array([[1, 0.05, 0], [0, 0, 1]], dtype=np.float32)
    top = exact_top(m, q, 2)
    assert top.shape == (2, 2) and top[0].tolist() == [0, 2] and top[1][0] == 3  # length does not count


def _unit_vectors(n: int, dim: int) -> np.ndarray:
    real = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return real / np.linalg.norm(real, axis=1, keepdims=True)


def test_derived_vectors_keep_the_real_ones_and_add_close_noisy_copies():
    real = _unit_vectors(50, 384)
    out = derive(real, 175, NOISE, seed=8)
    assert out.shape == (175, 384) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.allclose(out[:50], real, atol=1e-6)
    cos = (out[50:] * real[np.arange(50, 175) % 50]).sum(1)
    assert cos.min() > 0.85 and cos.max() < 0.999  # near their source, never a duplicate
    assert np.array_equal(out, derive(real, 175, NOISE, seed=8))


def test_query_without_a_scale_store_says_what_to_run(tmp_path, capsys):
    assert main(["query", "--work", str(tmp_path), "--passages", "50", "--no-server"]) == 1
    err = capsys.readouterr().err
    assert "no scale store" in err and "python -m evals bench scale --passages 50" in err
    assert not (tmp_path / "scale-50").exists()


def test_a_filled_store_holds_copies_and_finds_the_exact_neighbours(tmp_path, make_config):
    """Beyond the source rows come copies, with ids that name their source; at this size HNSW is exact."""
    source = StoredRows(
        ids=["a", "b", "c"],
        documents=["A.", "B.", "C."],
        metadatas=[{"path": "a"}, {"path": "b"}, {"path": "c"}],
        embeddings=_unit_vectors(3, 8),
    )
    vectors = derive(source.embeddings, 30, NOISE, seed=8)
    store, seconds = _fill(make_config(tmp_path / "store"), 30, source, vectors, SimpleNamespace(name="fake", dim=8))
    assert store.count() == 30 and seconds >= 0
    rows = store.rows(ids=[copy_id(source.ids, 4)])
    assert rows.ids == ["b~1"] and rows.documents == ["B."] and rows.metadatas == [{"path": "b"}]
    want = [[copy_id(source.ids, j) for j in row] for row in exact_top(vectors, vectors[:5], 5)]
    assert neighbour_recall(store.query(vectors[:5], 5), want, 5) == 1.0


@pytest.mark.integration
def test_the_chroma_server_answers_until_the_block_ends(tmp_path):
    with chroma_server(tmp_path / "server") as url, urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=5) as r:
        assert r.status == 200
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2)
    assert (tmp_path / "server.log").is_file()
