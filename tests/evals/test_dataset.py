from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import CASES_FILE, CONVERSATIONS_FILE, CaseError, load_cases
from evals.metrics import key_facts, normalize, occurs
from qa.config import BUNDLED_ARTICLES

ARTICLE_LANG = {
    "000_9ba9ff2b8065117a.txt": "ar",
    "001_96afc80ec7606d8d.txt": "sq",
    "002_b91f1ef5999b48e8.txt": "en",
    "003_0593ca0994ca8188.txt": "sq",
    "004_4a01d9418e012f08.txt": "it",
}


@pytest.fixture(scope="module")
def cases():
    return load_cases(CASES_FILE)


@pytest.fixture(scope="module")
def articles() -> dict[str, str]:
    return {p.name: normalize(p.read_text(encoding="utf-8")) for p in BUNDLED_ARTICLES.iterdir()}


def _found(group, text: str) -> bool:
    return any(occurs(normalize(s), text) for s in group)


def test_the_case_set_meets_the_issue(cases):
    kinds = Counter(c.type for c in cases)
    assert len(cases) >= 66
    assert kinds["unanswerable"] + kinds["offtopic"] >= 12 and kinds["offtopic"] >= 3
    assert kinds["multi"] >= 4 and kinds["conflict"] >= 3 and kinds["injection"] >= 3
    langs = Counter(c.lang for c in cases)
    assert {"en", "sq", "it", "ar", "fr", "de", "es"} <= set(langs)
    assert min(langs.values()) >= 5
    sourced = [c for c in cases if c.sources]
    cross = [c for c in sourced if all(ARTICLE_LANG[s] != c.lang for s in c.sources)]
    assert len(cross) / len(sourced) > 0.75
    covered = Counter(s for c in cases for s in c.sources)
    assert set(covered) == set(ARTICLE_LANG) and min(covered.values()) >= 5


def test_gold_answers_pass_their_own_facts(cases):
    failing = [c.id for c in cases if not c.refuse and not key_facts(c.answer, c.facts).correct]
    assert failing == []


def test_every_fact_group_is_stated_by_a_gold_article(cases, articles):
    """The article-language form of each fact must be listed, or an extractive answer could never match it."""
    missing = [
        (c.id, i) for c in cases for i, g in enumerate(c.facts) if not any(_found(g, articles[s]) for s in c.sources)
    ]
    assert missing == []


def test_conflict_cases_need_more_than_one_article(cases, articles):
    for c in (c for c in cases if c.type == "conflict"):
        alone = [s for s in c.sources if all(_found(g, articles[s]) for g in c.facts)]
        assert alone == [], f"{c.id}: {alone} alone gives every figure"


def test_refusal_cases_carry_no_gold(cases):
    for c in cases:
        assert c.refuse == (c.type in {"unanswerable", "offtopic", "injection"})
        if c.refuse:
            assert c.sources == () and c.facts == () and c.answer == ""


# --- malformed files fail loudly, naming the line, the case and the field --------------------------------

GOOD = {
    "id": "good",
    "question": "Where?",
    "lang": "en",
    "type": "answerable",
    "sources": ["a.txt"],
    "answer": "In Paris.",
    "facts": [["Paris"]],
    "refuse": False,
}
REFUSE = {
    "id": "r",
    "question": "Who won?",
    "lang": "de",
    "type": "offtopic",
    "sources": [],
    "answer": "",
    "facts": [],
    "refuse": True,
}


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    d = tmp_path / "articles"
    d.mkdir()
    (d / "a.txt").write_text("Leaders meet in Paris.", encoding="utf-8")
    (d / "b.txt").write_text("Leaders meet in Rome.", encoding="utf-8")
    return d


def _load(tmp_path: Path, articles_dir: Path, *lines: str):
    f = tmp_path / "cases.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_cases(f, articles_dir)


def _bad(**changes) -> str:
    base = dict(REFUSE if changes.pop("_refuse", False) else GOOD, id="bad")
    base.update(changes)
    for k in [k for k, v in base.items() if v is ...]:
        del base[k]
    return json.dumps(base, ensure_ascii=False)


def test_a_valid_file_loads_skipping_blank_lines(tmp_path, articles_dir):
    cases = _load(tmp_path, articles_dir, json.dumps(GOOD), "", "  ", json.dumps(REFUSE))
    assert [c.id for c in cases] == ["good", "r"]
    assert cases[0].facts == (("Paris",),) and cases[0].sources == ("a.txt",) and not cases[0].refuse
    assert cases[1].refuse and cases[1].facts == ()


@pytest.mark.parametrize(
    "line, field, words",
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "JSON object"),
        (_bad(question=...), "question", "missing"),
        (_bad(extra=1), "extra", "unknown field"),
        (_bad(id="Bad Id"), "id", "lowercase"),
        (_bad(question="  "), "question", "non-empty"),
        (_bad(lang="eng"), "lang", "ISO 639-1"),
        (_bad(type="trivia"), "type", "not one of"),
        (_bad(refuse=True), "refuse", "must be false"),
        (_bad(refuse="no"), "refuse", "true or false"),
        (_bad(facts=[]), "facts", "at least one group"),
        (_bad(facts=[[]]), "facts[0]", "empty group"),
        (_bad(facts=[["Paris", " "]]), "facts[0]", "empty string"),
        (_bad(facts=["Paris"]), "facts", "list of lists"),
        (_bad(answer=""), "answer", "gold answer"),
        (_bad(sources=[]), "sources", "at least one gold article"),
        (_bad(sources=["missing.txt"]), "sources", "not a file"),
        (_bad(sources=["a.txt", "a.txt"]), "sources", "twice"),
        (_bad(type="multi"), "sources", "two different"),
        (_bad(type="conflict", sources=["a.txt", "b.txt"]), "facts", "each of the disagreeing figures"),
        (_bad(_refuse=True, facts=[["x"]]), "facts", "must be empty"),
        (_bad(_refuse=True, sources=["a.txt"]), "sources", "must be empty"),
        (_bad(_refuse=True, answer="Germany"), "answer", 'must be ""'),
        (_bad(_refuse=True, refuse=False), "refuse", "must be true"),
    ],
)
def test_a_malformed_line_names_line_and_field(tmp_path, articles_dir, line, field, words):
    with pytest.raises(CaseError) as e:
        _load(tmp_path, articles_dir, json.dumps(GOOD), line)
    msg = str(e.value)
    assert "cases.jsonl line 2" in msg and words in msg
    if field:
        assert f"field '{field}'" in msg and "(id '" in msg


def test_a_duplicate_id_names_both_lines(tmp_path, articles_dir):
    with pytest.raises(CaseError, match=r"line 3 \(id 'good'\): field 'id': 'good' is already used on line 1"):
        _load(tmp_path, articles_dir, json.dumps(GOOD), json.dumps(REFUSE), json.dumps(GOOD))


def test_an_empty_or_missing_file_is_an_error(tmp_path, articles_dir):
    with pytest.raises(CaseError, match="holds no cases"):
        _load(tmp_path, articles_dir, "")
    with pytest.raises(CaseError, match="cannot read"):
        load_cases(tmp_path / "nope.jsonl", articles_dir)
    with pytest.raises(CaseError, match="no articles"):
        load_cases(CASES_FILE, tmp_path / "empty")


# --- conversation cases ----------------------------------------------------------------------------------------

TURN = {"kind": "followup", "history": ["Where do leaders meet?"], "standalone": "Where do leaders meet, and who?"}


def test_a_conversation_case_loads_with_its_earlier_questions(tmp_path, articles_dir):
    (case,) = _load(tmp_path, articles_dir, json.dumps({**GOOD, **TURN, "needs_context": True}))
    assert case.history == ("Where do leaders meet?",) and case.kind == "followup" and case.needs_context
    assert case.to_dict()["history"] == ["Where do leaders meet?"] and "kind" not in load_cases()[0].to_dict()


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"kind": "chat", "needs_context": True}, "kind", "not one of switch"),
        ({"history": [], "needs_context": True}, "history", "at least one earlier question"),
        ({"needs_context": False}, "needs_context", "must be true"),
        ({"kind": "switch", "needs_context": True}, "needs_context", "must be false"),
        ({"needs_context": "yes"}, "needs_context", "true or false"),
    ],
)
def test_a_bad_conversation_case_names_its_line_id_and_field(tmp_path, articles_dir, changes, field, words):
    with pytest.raises(CaseError) as e:
        _load(tmp_path, articles_dir, json.dumps({**GOOD, **TURN, **changes}))
    assert (
        "cases.jsonl line 1 (id 'good')" in str(e.value)
        and f"field {field!r}" in str(e.value)
        and words in str(e.value)
    )


def test_the_conversation_cases_meet_the_issue():
    convs = load_cases(CONVERSATIONS_FILE)
    assert len(convs) >= 40 and {c.lang for c in convs} == {"en", "de", "fr", "it", "es", "sq", "ar"}
    kinds = Counter(c.kind for c in convs)
    assert set(kinds) == {"switch", "followup", "offtopic", "after_refusal", "langswitch"}
    assert all(not c.needs_context for c in convs if c.kind == "switch")
