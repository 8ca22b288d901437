from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

import evals.__main__ as cli
from evals import gate as gt
from evals import report as rep
from evals.dataset import CASES_FILE, CONVERSATIONS_FILE, load_cases
from evals.run import ask_all, select
from qa.config import BUNDLED_ARTICLES
from qa.errors import InputError
from qa.types import Answer, Citation, Passage

CASES = load_cases(CASES_FILE)
CONVERSATIONS = load_cases(CONVERSATIONS_FILE)
TIMES = {"retrieve_s": 0.02, "first_token_s": 0.1, "total_s": 0.3}


class FakeAssistant:
    """Answers like a perfect system: the gold answer citing the gold articles, or a refusal; in a conversation
    it searches a follow-up as its gold stand-alone question, and anything else alone. A question of no case
    (an earlier turn of a conversation case) is refused.

    ``refuse_all`` makes it refuse everything; ``fail`` lists questions whose ``ask`` raises.
    """

    def __init__(self, refuse_all: bool = False, fail: tuple[str, ...] = (), llm: str = "none") -> None:
        self.by_question = {c.question: c for c in [*CASES, *CONVERSATIONS]}
        self.refuse_all, self.fail = refuse_all, fail
        self.asked: list[tuple[str, int]] = []
        self.closed = False
        self.config = SimpleNamespace(llm=llm)
        self.embedder = SimpleNamespace(name="fake-embedder")
        self.reader = "selector"

    def llm_status(self) -> str:
        return "fake"

    def close(self) -> None:
        self.closed = True

    def ask(self, question: str, k: int = 5, history: list[dict] | None = None) -> Answer:
        self.asked.append((question, k))
        if question in self.fail:
            raise InputError("the question is too long")
        case = self.by_question.get(question)
        if case is None:
            return Answer(question=question, text="The articles do not say.", refused=True, mode="extractive")
        rewritten = case.standalone if history and case.needs_context else None
        passages = [
            Passage(
                id=s,
                source=s,
                path=str(BUNDLED_ARTICLES / s),
                text=(BUNDLED_ARTICLES / s).read_text(),
                start=0,
                end=10,
                score=0.9,
            )
            for s in case.sources
        ]
        if case.refuse or self.refuse_all:
            return Answer(
                question=question,
                text="The articles do not say.",
                refused=True,
                mode="extractive",
                passages=passages,
                timings=dict(TIMES),
                note="nothing close enough",
                rewritten=rewritten,
            )
        marks = "".join(f"[{n}]" for n in range(1, len(passages) + 1))
        cites = [
            Citation(n=n, source=p.source, quote=p.text[:40], start=0, end=40, verified=True)
            for n, p in enumerate(passages, 1)
        ]
        return Answer(
            question=question,
            text=f"{case.answer.rstrip('.')} {marks}.",
            refused=False,
            mode="llm",
            citations=cites,
            passages=passages,
            timings=dict(TIMES),
            rewritten=rewritten,
        )


def test_select_filters_by_language_then_limits():
    ar = select(CASES, "ar")
    assert ar and all(c.lang == "ar" for c in ar)
    assert select(CASES, "ar", 2) == ar[:2] and select(CASES, None, 3) == CASES[:3]
    with pytest.raises(InputError, match="no case has the question language 'xx'"):
        select(CASES, "xx")


def test_ask_all_judges_every_case_and_records_errors():
    cases = CASES[:4]
    fake = FakeAssistant(fail=(cases[1].question,))
    records = ask_all(fake, cases, k=7, progress=False)
    assert [q for q, _ in fake.asked] == [c.question for c in cases] and {k for _, k in fake.asked} == {7}
    assert [r.case.id for r in records] == [c.id for c in cases]
    bad = records[1]
    assert bad.error == "the question is too long" and bad.answer.mode == "error" and not bad.judgement.correct
    assert all(r.judgement.correct for r in records if r is not bad)


@pytest.fixture
def fake(monkeypatch):
    """The CLI with the fake assistant in place of a real store and model."""
    made: list[FakeAssistant] = []

    def install(**kw) -> list[FakeAssistant]:
        def open_fake(store, llm):
            made.append(FakeAssistant(llm=llm or "none", **kw))
            return made[-1]

        monkeypatch.setattr(cli, "open_assistant", open_fake)
        return made

    return install


def test_a_perfect_system_scores_one_everywhere(fake, tmp_path, capsys):
    made = fake()
    assert cli.main(["--out", str(tmp_path), "--quiet", "--k", "4"]) == 0
    assert made[0].closed and {k for _, k in made[0].asked} == {4}
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    s = report["summary"]
    assert s["cases"] == len(CASES)
    for metric in (
        "accuracy",
        "answer.correct",
        "conflict.correct",
        "refusal.precision",
        "refusal.recall",
        "retrieval.hit@1",
        "retrieval.mrr",
        "citations.precision",
        "citations.recall",
        "citations.verifier_agreement",
    ):
        assert s[metric] == 1.0, metric
    assert s["latency.total_s.p95"] == 0.3
    assert set(report["by_lang"]) >= {"en", "sq", "it", "ar", "fr", "de", "es"}
    assert set(report["by_mode"]) == {"llm", "extractive"} and "conflict" in report["by_type"]
    assert report["meta"]["llm"] == "none" and report["meta"]["k"] == 4
    case = report["cases"][0]
    assert set(case) == {"case", "answer", "judgement", "error"} and case["judgement"]["correct"]
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert all(f'### <a id="{c.id}"></a>✓ {c.id}' in md for c in CASES)
    assert "## By question language" in md and "judge: supports" in md
    out = capsys.readouterr().out
    assert "accuracy" in out and "report.md" in out


def test_the_gate_fails_a_metric_that_lost_more_than_one_case_and_names_the_cases(fake, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    fake()
    assert cli.main(["--out", str(tmp_path / "good"), "--quiet", "--write-baseline", str(baseline)]) == 0
    stored = json.loads(baseline.read_text(encoding="utf-8"))
    assert stored["llm"] == "none" and stored["k"] == 5
    assert set(stored["cases"]) == {c.id for c in [*CASES, *CONVERSATIONS]}
    assert stored["cases"]["conv-kyiv-toll-en"]["context.used_when_needed"] == 1.0
    assert stored["measured"]["accuracy"] == 1.0
    assert cli.main(["--out", str(tmp_path / "same"), "--quiet", "--baseline", str(baseline)]) == 0
    assert "no metric lost more than 1 case" in capsys.readouterr().out
    fake(refuse_all=True)
    code = cli.main(
        [
            "--out",
            str(tmp_path / "bad"),
            "--quiet",
            "--baseline",
            str(baseline),
            "--compare",
            str(tmp_path / "good" / "report.json"),
        ]
    )
    captured = capsys.readouterr()
    assert code == cli.REGRESSION
    assert "evals: regression: accuracy:" in captured.err and "evals: regression: refusal.recall" not in captured.err
    answerable = [c.id for c in CASES if not c.refuse]
    assert f"lost: {', '.join(sorted(answerable))}" in captured.err
    assert "evals: regression: conversation.accuracy:" in captured.err
    assert "compared with" in captured.out and "worse" in captured.out


def _judged(correct: bool, refused: bool = False, should_refuse: bool = False, rank: int | None = 1) -> dict:
    return {
        "correct": correct,
        "refused": refused,
        "should_refuse": should_refuse,
        "retrieval": {"rank": rank},
        "citations": None,
    }


def _run(**cases: dict) -> dict:
    return {"cases": [{"case": {"id": cid}, "judgement": j} for cid, j in cases.items()]}


def test_one_case_moving_never_fails_the_gate_two_do():
    base = gt.Baseline("none", 5, gt.per_case(_run(**{f"c{i}": _judged(True) for i in range(25)})))
    one = gt.gate(_run(c0=_judged(False), **{f"c{i}": _judged(True) for i in range(1, 25)}), base)
    assert one.failures == [] and "accuracy: lost c0; won none" in one.changed
    two = gt.gate(_run(c0=_judged(False), c1=_judged(False), **{f"c{i}": _judged(True) for i in range(2, 25)}), base)
    assert [f.split(":")[0] for f in two.failures] == ["accuracy", "answer.correct"]
    assert "lost: c0, c1" in two.failures[0] and "by more than 1 of its 25 cases" in two.failures[0]


def test_cases_won_are_listed_and_a_metric_no_longer_measured_fails():
    base = gt.Baseline("none", 5, gt.per_case(_run(a=_judged(False), b=_judged(True))))
    verdict = gt.gate(_run(a=_judged(True, rank=None), b=_judged(True, rank=None)), base)
    assert "accuracy: lost none; won a" in verdict.changed
    assert any(f.startswith("retrieval.hit@1:") for f in verdict.failures)
    gone = gt.gate({"cases": []}, base)
    assert "accuracy: not measured in this run (baseline 0.500 over 2 cases)" in gone.failures


def test_the_gate_refuses_a_run_made_differently(fake, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    fake()
    assert cli.main(["--out", str(tmp_path), "--quiet", "--write-baseline", str(baseline)]) == 0
    assert cli.main(["--llm", "local", "--out", str(tmp_path), "--quiet", "--baseline", str(baseline)]) == 1
    assert "measured with --llm none (this run: local)" in capsys.readouterr().err
    assert cli.main(["--lang", "ar", "--out", str(tmp_path), "--quiet", "--baseline", str(baseline)]) == 1
    assert "drop --lang and --limit" in capsys.readouterr().err
    assert cli.main(["--lang", "ar", "--out", str(tmp_path), "--quiet", "--write-baseline", str(baseline)]) == 1


def test_lang_and_limit_pick_the_cases(fake, tmp_path):
    made = fake()
    assert cli.main(["--lang", "de", "--limit", "3", "--out", str(tmp_path), "--quiet"]) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [c["case"]["lang"] for c in report["cases"]] == ["de"] * 3 and len(made[0].asked) == 3
    assert report["meta"]["lang"] == "de" and report["meta"]["limit"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lang", "xx"], "no case has the question language"),
        (["--k", "0"], "k must be from 1"),
        (["--cases", "nope.jsonl"], "cannot read the cases file"),
        (["--compare", "nope.json"], "cannot read the report"),
        (["--baseline", "nope.json"], "cannot read the baseline"),
    ],
)
def test_bad_input_exits_1_with_a_message(fake, tmp_path, capsys, argv, message):
    fake()
    assert cli.main(argv + ["--out", str(tmp_path), "--quiet"]) == 1
    assert message in capsys.readouterr().err


def test_subcommands_are_imported_only_when_asked(monkeypatch, capsys):
    seen = []
    module = types.ModuleType("fake_evals_sub")
    module.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "fake_evals_sub", module)
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"fake": "fake_evals_sub", "later": "evals.not_written_yet"})
    assert cli.main(["fake", "--matrix", "x"]) == 7 and seen == [["--matrix", "x"]]
    assert cli.main(["later"]) == 2
    assert "`python -m evals later` is not available" in capsys.readouterr().err


# --- report helpers ---------------------------------------------------------------------------------------------


def _report(**summary) -> dict:
    return {"summary": summary, "by_lang": {}, "by_mode": {}, "by_type": {}}


def test_compare_marks_what_got_worse():
    old = _report(
        **{
            "accuracy": 0.5,
            "latency.total_s.p50": 1.0,
            "refusal.over_refusal": 0.1,
            "cases": 90,
            "citations.recall": 0.4,
        }
    )
    new = _report(
        **{
            "accuracy": 0.6,
            "latency.total_s.p50": 1.5,
            "refusal.over_refusal": 0.2,
            "cases": 95,
            "citations.recall": None,
        }
    )
    old["by_lang"]["ar"] = {"accuracy": 0.5}
    new["by_lang"]["ar"] = {"accuracy": 0.25}
    deltas = {d.metric: d for d in rep.compare(new, old)}
    assert deltas["accuracy"].change == pytest.approx(0.1) and not deltas["accuracy"].worse
    assert deltas["latency.total_s.p50"].worse and deltas["refusal.over_refusal"].worse
    assert not deltas["cases"].worse and deltas["citations.recall"].worse
    assert deltas["by_lang.ar.accuracy"].worse
    text = rep.format_deltas(list(deltas.values()), "old.json")
    assert "+0.50 s" in text and "+5" in text and "-0.250" in text


@pytest.mark.parametrize(
    "content",
    [
        "{",
        "[]",
        '{"llm": "none", "k": 5, "cases": {}}',
        '{"llm": "none", "k": 5, "cases": {"a": {"accuracy": "high"}}}',
        '{"llm": "none", "k": 5, "cases": {"a": {"nope": 1}}}',
        '{"k": 5, "cases": {"a": {"accuracy": 1}}}',
        '{"llm": "none", "k": 5, "min": {"accuracy": 0.5}}',
    ],
)
def test_a_malformed_baseline_is_refused(tmp_path, content):
    f = tmp_path / "b.json"
    f.write_text(content)
    with pytest.raises(InputError, match="baseline"):
        gt.load_baseline(f)


def test_the_committed_baseline_is_valid():
    b = gt.load_baseline(Path(cli.__file__).parent / "baseline.json")
    assert b.llm == "none" and all(0 <= v <= 1 for case in b.cases.values() for v in case.values())
    assert set(b.cases) == {c.id for c in [*CASES, *CONVERSATIONS]}


@pytest.mark.slow
def test_a_real_extractive_run(tmp_path):
    """The real assistant (embedder, Chroma, extractive answers) on a few cases, into a fresh store."""
    assert (
        cli.main(
            [
                "--llm",
                "none",
                "--limit",
                "4",
                "--store",
                str(tmp_path / "store"),
                "--out",
                str(tmp_path / "out"),
                "--quiet",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["cases"] == 4 and report["summary"]["retrieval.cases"] == 4
    assert report["by_mode"].keys() <= {"extractive"}
    assert all(c["answer"]["passages"] for c in report["cases"])


def test_a_run_that_fell_back_from_the_llm_says_so(fake, tmp_path, capsys):
    fake()
    assert cli.main(["--llm", "local", "--out", str(tmp_path), "--quiet"]) == 0
    everything = [*CASES, *CONVERSATIONS]
    refusals = sum(c.refuse for c in everything)  # the fake refuses extractively
    assert (
        f"warning: {refusals} of {len(everything)} answers did not come from the LLM (--llm local; llm status: fake); "
        "e.g. nothing close enough"
    ) in capsys.readouterr().out


def test_load_is_the_old_name_of_loadtest():
    assert cli.SUBCOMMANDS["load"] == cli.SUBCOMMANDS["loadtest"] == "evals.loadtest"
