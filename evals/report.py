"""Reports of a run: JSON for machines and comparisons, Markdown for people, a table for the terminal,
deltas against an earlier report (the baseline gate: ``evals/gate.py``).

Every per-case row keeps the question, the answer, its citations with both verdicts (the library's verifier
and the independent judge of :mod:`evals.metrics`) and the reason for the case's verdict, so a person can
read why a case failed without rerunning it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.metrics import breakdown, score
from evals.reliability import draw
from evals.run import Record
from qa.errors import InputError

DIAGRAM = "reliability.png"
SLICE_COLUMNS = (
    "cases",
    "accuracy",
    "answer.correct",
    "answer.first_claim",
    "conflict.correct",
    "refusal.precision",
    "refusal.recall",
    "retrieval.hit@1",
    "retrieval.hit@3",
    "retrieval.mrr",
    "citations.precision",
    "citations.recall",
    "latency.total_s.p50",
)
CONVERSATION_COLUMNS = (
    "cases",
    "accuracy",
    "answer.correct",
    "answer.first_claim",
    "refusal.recall",
    "refusal.over_refusal",
    "context.used_when_needed",
    "context.alone_when_standalone",
    "context.correct_alone",
)
LOWER_IS_BETTER = ("latency.", "refusal.over_refusal")
COUNTS = ("cases", "citations.shown", "citations.verifier_checked")
SLICES = {"by_lang": lambda j: j.lang, "by_mode": lambda j: j.mode, "by_type": lambda j: j.type}


def build(records: Sequence[Record], meta: dict) -> dict:
    """The whole report as one JSON-ready dict: how it was made, the scores, the slices, every case.

    ``summary`` and the slices score the single questions; ``conversation`` scores the conversation cases
    (asked after earlier turns) with the same metrics and the context ones, ``by_kind`` per kind of turn."""
    single = [r.judgement for r in records if r.judgement.conversation is None]
    convs = [r.judgement for r in records if r.judgement.conversation is not None]
    scores = score(single)
    out: dict = {"meta": meta, "summary": scores.to_dict()}
    if scores.calibration is not None:
        out["calibration"] = scores.calibration.diagram()
    for name, key in SLICES.items():
        out[name] = {group: s.to_dict() for group, s in breakdown(single, key).items()}
    if convs:
        out["conversation"] = score(convs).to_dict()
        kind = lambda j: j.conversation.kind  # noqa: E731
        out["by_kind"] = {group: s.to_dict() for group, s in breakdown(convs, kind).items()}
        out["conversation_by_lang"] = {group: s.to_dict() for group, s in breakdown(convs, lambda j: j.lang).items()}
    out["cases"] = [r.to_dict() for r in records]
    return out


def write(report: dict, out: Path) -> tuple[Path, Path]:
    """``report.json`` and ``report.md`` in ``out`` (created if needed)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out / "report.json", out / "report.md"
        if report.get("calibration"):
            c = report["calibration"]
            draw(c["bins"], c["ece"], c["answers"], out / DIAGRAM, f"Reliability, --llm {report['meta']['llm']}")
        json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        md_path.write_text(markdown(report), encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the reports into {out}: {e.strerror}; pass another --out") from None
    return json_path, md_path


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read the {what} {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"the {what} {path} is not JSON ({e.msg}, line {e.lineno})") from None


def load_report(path: Path) -> dict:
    """An earlier ``report.json`` (for ``--compare``)."""
    data = _read_json(path, "report")
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise InputError(f"{path} has no 'summary': pass a report.json written by `python -m evals`")
    return data


# --- formatting -------------------------------------------------------------------------------------------


def fmt(metric: str, value: float | int | None) -> str:
    if value is None:
        return "—"
    if metric.startswith("latency."):
        return f"{value:.2f} s"
    if isinstance(value, int) or metric.endswith(COUNTS):
        return str(int(value))
    return f"{value:.3f}"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _floor(calibration: dict) -> str:
    """What chance alone would show: the ECE of a perfectly calibrated confidence on as many answers."""
    band = calibration.get("ece_if_calibrated")
    if not band:
        return "."
    return (
        f"; a perfectly calibrated confidence would show {band[0]:.3f} on as many answers by chance alone "
        f"(95th percentile {band[1]:.3f}): an ECE below that is within what so few answers can tell."
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _summary_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """Every metric as a row; one column for the whole run and one per answer mode."""
    modes = list(report.get("by_mode", {}))
    headers = ["metric", "all"] + modes
    rows = [
        [m, fmt(m, v)] + [fmt(m, report["by_mode"][mode].get(m)) for mode in modes]
        for m, v in report["summary"].items()
    ]
    return headers, rows


def _slice_rows(report: dict, name: str, columns: Sequence[str] = SLICE_COLUMNS) -> tuple[list[str], list[list[str]]]:
    headers = [name.removeprefix("by_").removeprefix("conversation_by_")] + list(columns)
    rows = [[group] + [fmt(c, scores.get(c)) for c in columns] for group, scores in report[name].items()]
    return headers, rows


def _conversation_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """The conversation cases as one row, then a row per kind of turn."""
    headers, rows = _slice_rows(report, "by_kind", CONVERSATION_COLUMNS)
    return headers, [["all"] + [fmt(c, report["conversation"].get(c)) for c in CONVERSATION_COLUMNS]] + rows


def terminal(report: dict) -> str:
    """The summary table and the per-language table, for the end of a run."""
    m = report["meta"]
    head = f"llm {m['llm']} · k {m['k']} · {report['summary']['cases']} cases · {m['seconds']} s"
    parts = [head, _text_table(*_summary_rows(report)), _text_table(*_slice_rows(report, "by_lang"))]
    if "conversation" in report:
        parts.append("conversations (asked after earlier turns):\n" + _text_table(*_conversation_rows(report)))
    fallback = [c for c in report["cases"] if c["answer"]["mode"] != "llm"] if m["llm"] != "none" else []
    if fallback:
        note = next((c["error"] or c["answer"]["note"] for c in fallback if c["error"] or c["answer"]["note"]), None)
        parts.append(
            f"warning: {len(fallback)} of {len(report['cases'])} answers did not come from the LLM "
            f"(--llm {m['llm']}; llm status: {m.get('llm_status')})" + (f"; e.g. {note}" if note else "")
        )
    return "\n\n".join(parts)


def markdown(report: dict) -> str:
    m = report["meta"]
    parts = [
        "# Evaluation report",
        f"`python -m evals` · llm **{m['llm']}** ({m.get('llm_status')}) · k {m['k']} · "
        f"{report['summary']['cases']} cases from "
        + ", ".join(f"`{Path(f).name}`" for f in str(m["cases_file"]).split(", "))
        + (f" · language {m['lang']}" if m.get("lang") else "")
        + (f" · first {m['limit']}" if m.get("limit") else "")
        + f" · {m['seconds']} s · commit {m.get('commit') or '?'} · {m['started']} · embedder {m.get('embedder')}",
        "Accuracy counts a right answer (every key fact stated, not refused) or a right refusal. Citation "
        "precision and recall are ALCE-style and judged without the library: a citation supports its sentence when "
        "the cited article is a gold source and holds the facts the sentence states; *verifier agreement* is how "
        "often the library's own verdict matches.",
        "## Summary",
        _md_table(*_summary_rows(report)),
        *(
            [
                "## Confidence",
                f"Expected calibration error **{report['calibration']['ece']:.3f}** over "
                f"{report['calibration']['answers']} answers that state a confidence (single questions)"
                + _floor(report["calibration"]),
                f"![Reliability diagram]({DIAGRAM})",
            ]
            if report.get("calibration")
            else []
        ),
        "## By question language",
        _md_table(*_slice_rows(report, "by_lang")),
        "## By answer mode",
        _md_table(*_slice_rows(report, "by_mode")),
        "## By case type",
        _md_table(*_slice_rows(report, "by_type")),
    ]
    if "conversation" in report:
        parts += [
            "## Conversations",
            "Each conversation case is asked after its earlier questions, with the real answers as history. "
            "*context.used_when_needed*: of the questions that need the earlier turns, the share searched with "
            "them; *context.alone_when_standalone*: of those that stand alone, the share searched alone; "
            "*context.correct_alone*: the self-contained ones asked again with no history (compare with accuracy).",
            _md_table(*_conversation_rows(report)),
            "### Conversations by question language",
            _md_table(*_slice_rows(report, "conversation_by_lang", CONVERSATION_COLUMNS)),
        ]
    parts += [
        "## Cases",
        _md_table(
            ["", "id", "lang", "type", "mode", "why"],
            [
                [
                    _mark(c),
                    f"[{c['case']['id']}](#{c['case']['id']})",
                    c["case"]["lang"],
                    c["case"]["type"],
                    c["answer"]["mode"],
                    c["judgement"]["reason"],
                ]
                for c in report["cases"]
            ],
        ),
        "## Case details",
    ]
    parts += [_case_md(c) for c in sorted(report["cases"], key=lambda c: c["judgement"]["correct"])]
    return "\n\n".join(parts) + "\n"


def _mark(c: dict) -> str:
    return "✓" if c["judgement"]["correct"] else "✗"


def _case_md(c: dict) -> str:
    case, ans, j = c["case"], c["answer"], c["judgement"]
    lines = [
        f'### <a id="{case["id"]}"></a>{_mark(c)} {case["id"]}',
        "",
        f"**{case['type']}**, question in **{case['lang']}**: {case['question']}",
        "",
    ]
    if case["refuse"]:
        lines.append("**Expected:** a refusal")
    else:
        facts = "; ".join(" / ".join(g[:4]) for g in case["facts"])
        lines.append(
            f"**Expected:** {case['answer']} — key facts: {facts} — sources: "
            + ", ".join(f"`{s}`" for s in case["sources"])
        )
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in ans["timings"].items() if v is not None)
    lines += [
        "",
        f"**Answer** ({ans['mode']}, {'refused' if ans['refused'] else 'answered'}"
        + (f", {timing}" if timing else "")
        + "):",
        "",
    ]
    lines += ["> " + (line or " ") for line in (ans["answer"] or "(empty)").splitlines()]
    phrasing = ans.get("phrasing")
    if phrasing:
        how = (
            f"a machine translation of «{phrasing['copied']}», which the model copied from the quote"
            if phrasing["translated"]
            else "copied from the quote, found there word for word"
        )
        lines += ["", f"*Phrased:* «{phrasing['text']}» — {how}. Faithful? (audit: `docs/phrasing-audit.md`)"]
    if c.get("error") or ans.get("note"):
        lines += ["", f"*Note:* {c.get('error') or ans['note']}"]
    first_citation = {}
    for cit in ans["citations"]:
        first_citation.setdefault(cit["n"], cit)
    verdicts = (j["citations"] or {}).get("verdicts", [])
    if verdicts:
        lines += ["", "**Citations** (independent judge; the library):"]
    for v in verdicts:
        cit = first_citation.get(v["n"])
        qa = "no citation object" if v["verified"] is None else "verified" if v["verified"] else "not verified"
        lines.append(
            f"- sentence {v['sentence'] + 1} cites [{v['n']}] `{v['source'] or '?'}`"
            + (f" «{cit['quote']}»" if cit else "")
            + f" — judge: {'supports' if v['supported'] else 'does not support'} ({v['reason']}); library: {qa}"
        )
    unshown = [cit for n, cit in first_citation.items() if n not in {v["n"] for v in verdicts}]
    lines += [
        f"- [{cit['n']}] `{cit['source']}` «{cit['quote']}» — listed but not marked in the text" for cit in unshown
    ]
    if j["citations"]:
        lines += ["", f"*Citations:* {j['citations']['reason']}"]
    if j["retrieval"]:
        lines += ["", f"*Retrieval:* {j['retrieval']['reason']}"]
    if ans["passages"]:
        lines += [
            "",
            "*Passages:* " + ", ".join(f"[{p['n']}] `{p['source']}` {p['score']:.3f}" for p in ans["passages"]),
        ]
    lines += ["", f"**Verdict:** {'right' if j['correct'] else 'wrong'}: {j['reason']}"]
    return "\n".join(lines)


# --- comparison --------------------------------------------------------------------------------------------


def _metric(name: str) -> str:
    """The metric of a delta's name: "by_lang.ar.retrieval.mrr" -> "retrieval.mrr"."""
    return name.split(".", 2)[2] if name.startswith("by_") else name


@dataclass(frozen=True)
class Delta:
    metric: str  # e.g. "answer.correct" or "by_lang.ar.accuracy"
    old: float | int | None
    new: float | int | None

    @property
    def change(self) -> float | int | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def worse(self) -> bool:
        """Lower for a score, higher for a latency or the over-refusal rate, or no longer measured; counts never are."""
        name = _metric(self.metric)
        if name.endswith(COUNTS) or self.old is None:
            return False
        if self.new is None:
            return True
        return self.new > self.old + 1e-9 if name.startswith(LOWER_IS_BETTER) else self.new < self.old - 1e-9


def compare(new: dict, old: dict) -> list[Delta]:
    """Every summary metric, and the slice metrics that changed, new against old."""
    out = [
        Delta(m, old["summary"].get(m), new["summary"].get(m))
        for m in dict.fromkeys([*new["summary"], *old["summary"]])
    ]
    for name in SLICES:
        for group in dict.fromkeys([*new.get(name, {}), *old.get(name, {})]):
            a, b = old.get(name, {}).get(group, {}), new.get(name, {}).get(group, {})
            for m in SLICE_COLUMNS:
                if a.get(m) != b.get(m):
                    out.append(Delta(f"{name}.{group}.{m}", a.get(m), b.get(m)))
    return out


def format_deltas(deltas: Sequence[Delta], old_label: str) -> str:
    rows = []
    for d in deltas:
        metric = _metric(d.metric)
        if d.change is None:
            change = "—"
        elif metric.startswith("latency."):
            change = f"{d.change:+.2f} s"
        else:
            change = f"{d.change:+d}" if isinstance(d.change, int) else f"{d.change:+.3f}"
        rows.append([d.metric, fmt(metric, d.old), fmt(metric, d.new), change, "worse" if d.worse else ""])
    return f"compared with {old_label}:\n" + _text_table(["metric", "old", "new", "change", ""], rows)
