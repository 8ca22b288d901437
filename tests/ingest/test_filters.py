"""qa/filters.py on stores ingest writes: date ranges, sources and languages as one Chroma ``where`` in the query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llama_index.vector_stores.chroma import ChromaVectorStore

from ingest.sync import sync
from qa.__main__ import main as qa_main
from qa.answer import Assistant
from qa.errors import InputError
from qa.filters import Filters, day_number
from qa.store import open_store

FIXTURES = Path(__file__).parent / "fixtures" / "dated"
QUESTION = "What did the government announce?"


@pytest.fixture(scope="module")
def dated(tmp_path_factory, embedder, make_config) -> Assistant:
    config = make_config(tmp_path_factory.mktemp("dated") / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    assert not sync([FIXTURES], store, embedder, config, progress=False).failed
    return Assistant(config, embedder, store, llm=None)


def sources(passages) -> set[str]:
    return {p.source for p in passages}


@pytest.mark.parametrize(
    "text, first, last",
    [("2024-11-21", 20241121, 20241121), ("2024-11", 20241101, 20241130), ("2024", 20240101, 20241231)],
)
def test_a_date_of_any_precision_is_a_range_of_day_numbers(text, first, last):
    assert (day_number(text), day_number(text, last=True)) == (first, last)


def test_leap_february():
    assert day_number("2024-02", last=True) == 20240229 and day_number("2025-02", last=True) == 20250228


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"since": "2024-13-01"}, "since '2024-13-01' is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY"),
        ({"until": "2024-02-30"}, "until '2024-02-30' is not a date"),
        ({"since": "yesterday"}, "since 'yesterday' is not a date"),
        ({"since": "21/11/2024"}, "since '21/11/2024' is not a date"),
        ({"since": 20241101}, "since must be a date written as text, e.g. 2024-11-01, not 20241101"),
        ({"since": "2024-12", "until": "2024-11-30"}, "since 2024-12 is after until 2024-11-30; swap them"),
        ({"langs": ["english"]}, "lang 'english' is not a language code; use a code such as en"),
        ({"sources": [""]}, "each source must be non-empty text"),
    ],
    ids=["month-13", "feb-30", "word", "slashes", "not-text", "reversed", "lang-name", "empty-source"],
)
def test_bad_filters_are_refused_with_what_to_write(dated, kwargs, message):
    with pytest.raises(InputError) as e:
        dated.search(QUESTION, **kwargs)
    assert message in str(e.value)
    with pytest.raises(InputError):
        dated.ask(QUESTION, **kwargs)


def test_one_where_for_all_filters():
    assert Filters.of().where() is None
    assert Filters.of(langs="FR").where() == {"lang": {"$in": ["fr"]}}
    assert Filters.of(since="2024-11", until="2024").where() == {
        "$and": [{"date_int": {"$gte": 20241101}}, {"date_int": {"$lte": 20241231}}]
    }


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, {"month_line.txt", "paris_dateline.txt", "meta_date.html", "undated.txt"}),
        ({"since": "2024-11-15"}, {"paris_dateline.txt", "meta_date.html"}),
        ({"until": "2024-11"}, {"month_line.txt", "paris_dateline.txt"}),
        ({"since": "2024-11", "until": "2024-11"}, {"month_line.txt", "paris_dateline.txt"}),
        ({"since": "2025"}, {"meta_date.html"}),
        ({"langs": ["de"]}, {"undated.txt"}),
        ({"langs": ["fr", "de"]}, {"paris_dateline.txt", "undated.txt"}),
        ({"sources": ["meta_date.html"]}, {"meta_date.html"}),
        ({"since": "2024", "langs": ["en"]}, {"month_line.txt", "meta_date.html"}),
        ({"since": "2026"}, set()),
    ],
    ids=[
        "none",
        "since-day",
        "until-month",
        "one-month",
        "since-year",
        "lang",
        "langs",
        "source",
        "date-and-lang",
        "nothing",
    ],
)
def test_filters_choose_the_passages(dated, kwargs, expected):
    assert sources(dated.search(QUESTION, k=10, **kwargs)) == expected


def test_the_filter_is_inside_the_vector_query_not_applied_after(dated, monkeypatch):
    seen = []
    query = ChromaVectorStore.query

    def spy(self, q, **kwargs):
        seen.append(kwargs.get("where"))
        return query(self, q, **kwargs)

    monkeypatch.setattr(ChromaVectorStore, "query", spy)
    got = dated.search("Venice flood barriers", k=1, langs=["de"])
    assert seen == [{"lang": {"$in": ["de"]}}]
    assert sources(got) == {"undated.txt"}  # the nearest German passage, though Venice is nearer unfiltered


def test_an_answer_with_nothing_left_by_the_filter_is_a_refusal(dated):
    answer = dated.ask("What did the French government announce?", since="2026-01-01")
    assert answer.refused and answer.passages == []


def test_the_cli_filters_and_notes_undated_passages(dated, qa_env, capsys):
    store = str(dated.config.store)
    assert qa_main(["search", QUESTION, "--store", store, "--json", "--lang", "fr", "--lang", "de"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["source"] for p in out["passages"]} == {"paris_dateline.txt", "undated.txt"} and "note" not in out
    assert qa_main(["search", QUESTION, "--store", store, "--json", "--since", "2024-11-15", "--k", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["source"] for p in out["passages"]} == {"paris_dateline.txt", "meta_date.html"}
    assert "the date filter left out 1 of 4 passages that have no publication date" in out["note"]
    assert "stored before dates were recorded" not in out["note"]
    assert qa_main(["ask", QUESTION, "--store", store, "--json", "--until", "2024-11-30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["source"] for p in out["passages"]} <= {"paris_dateline.txt", "month_line.txt"}
    assert "left out 1 of 4 passages" in out["note"]


def test_the_cli_refuses_a_bad_date_before_opening_anything(qa_env, capsys, tmp_path):
    assert qa_main(["search", QUESTION, "--store", str(tmp_path / "none"), "--since", "2024-13-01"]) == 1
    err = capsys.readouterr().err
    assert "qa: error: since '2024-13-01' is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY" in err
    assert not (tmp_path / "none").exists()


def test_a_store_built_before_dates_were_stored_is_noted(tmp_path, embedder, make_config, qa_env, capsys):
    config = make_config(tmp_path / "store")
    store = open_store(config, embedder.name, embedder.dim, create=True)
    assert not sync([FIXTURES / "paris_dateline.txt"], store, embedder, config, progress=False).failed
    old_text = "An article stored by an older qa, with a date but no date_int in its metadata."
    old_meta = {"source": "old.txt", "path": "/old.txt", "date": "2024-11", "lang": "en", "start": 0, "end": 80}
    store.add(["old-0000"], [old_text], embedder.passages([old_text]), [old_meta])
    assert qa_main(["search", QUESTION, "--store", str(config.store), "--json", "--since", "2024-01-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["source"] for p in out["passages"]} == {"paris_dateline.txt"}
    assert out["note"] == (
        "the date filter left out 1 of 2 passages that have no publication date (1 of them stored before dates were "
        "recorded: ingest their files into a new --store to date them)"
    )
