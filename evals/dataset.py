"""The hand-written evaluation cases (``evals/cases.jsonl``) and the schema they must follow.

A case that is subtly wrong (a fact group nobody can satisfy, a refusal case with a gold answer, a source
that is not in the corpus) would quietly drag every score down, so loading is strict: the first bad line
stops everything with its line number, its id and the field at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from qa.config import BUNDLED_ARTICLES, PROJECT_DIR
from qa.errors import InputError

CASES_FILE = PROJECT_DIR / "evals" / "cases.jsonl"
CONVERSATIONS_FILE = PROJECT_DIR / "evals" / "conversations.jsonl"
# A conversation case is a case asked after earlier questions (``history``): of one of these kinds.
KINDS = ("switch", "followup", "offtopic", "after_refusal", "langswitch")
CONVERSATION_FIELDS = ("kind", "history", "standalone", "needs_context")
TYPES = ("answerable", "unanswerable", "offtopic", "multi", "conflict", "injection")
REFUSE_TYPES = frozenset({"unanswerable", "offtopic", "injection"})
MULTI_SOURCE_TYPES = frozenset({"multi", "conflict"})
FIELDS = ("id", "question", "lang", "type", "sources", "answer", "facts", "refuse")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_LANG = re.compile(r"^[a-z]{2}$")


class CaseError(InputError):
    """A line of the cases file breaks the schema; the message names the line, the case and the field."""


@dataclass(frozen=True)
class Case:
    """One question with what a correct answer must contain (``facts``) or that it must be refused."""

    id: str
    question: str
    lang: str  # ISO 639-1 code of the question
    type: str  # one of TYPES
    sources: tuple[str, ...]  # gold article file names; empty when the articles do not answer it
    answer: str  # a gold answer in the question's language; "" when it must be refused
    facts: tuple[tuple[str, ...], ...]  # every group must match one of its strings
    refuse: bool
    # A conversation case (``evals/conversations.jsonl``): the earlier user questions, oldest first; its kind;
    # the question made to stand alone; and whether it can be understood without the earlier questions.
    history: tuple[str, ...] = ()
    kind: str | None = None
    standalone: str | None = None
    needs_context: bool | None = None

    def to_dict(self) -> dict:
        extra = (
            {
                "history": list(self.history),
                "kind": self.kind,
                "standalone": self.standalone,
                "needs_context": self.needs_context,
            }
            if self.kind
            else {}
        )
        return {
            "id": self.id,
            "question": self.question,
            "lang": self.lang,
            "type": self.type,
            "sources": list(self.sources),
            "answer": self.answer,
            "facts": [list(g) for g in self.facts],
            "refuse": self.refuse,
            **extra,
        }


def load_cases(path: Path = CASES_FILE, articles: Path = BUNDLED_ARTICLES) -> list[Case]:
    """Every case of a JSON Lines file, checked against the schema and the article folder.

    Blank lines are allowed; anything else that is not a valid case raises :class:`CaseError`. A line with a
    ``kind`` is a conversation case (:func:`parse_conversation`).
    """
    known = {p.name for p in articles.iterdir() if p.is_file()} if articles.is_dir() else set()
    if not known:
        raise CaseError(f"no articles in {articles}: the cases' sources cannot be checked")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CaseError(f"cannot read the cases file {path}: {e.strerror}") from None
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CaseError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        case = parse_conversation(obj, where, known) if isinstance(obj, dict) and "kind" in obj else None
        case = case or parse_case(obj, where, known)
        if case.id in first_line:
            raise CaseError(
                f"{where} (id {case.id!r}): field 'id': {case.id!r} is already used on line {first_line[case.id]}"
            )
        first_line[case.id] = number
        cases.append(case)
    if not cases:
        raise CaseError(f"{path} holds no cases")
    return cases


def parse_case(obj: object, where: str, known_sources: set[str]) -> Case:
    """One decoded JSON object as a :class:`Case`, or a :class:`CaseError` naming ``where`` and the field."""
    if not isinstance(obj, dict):
        raise CaseError(f"{where}: a case must be a JSON object, not {type(obj).__name__}")
    cid = obj.get("id")
    fail = _failer(obj, where)
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise fail(missing[0], "missing" + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else ""))
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field; the fields are {', '.join(FIELDS)}")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise fail("id", f"{cid!r} must be lowercase letters, digits, '-', '_' or '.'")
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise fail("question", "must be a non-empty string")
    lang = obj["lang"]
    if not isinstance(lang, str) or not _LANG.match(lang):
        raise fail("lang", f"{lang!r} is not a two-letter lowercase ISO 639-1 code")
    kind = obj["type"]
    if kind not in TYPES:
        raise fail("type", f"{kind!r} is not one of {', '.join(TYPES)}")
    refuse = obj["refuse"]
    if not isinstance(refuse, bool):
        raise fail("refuse", "must be true or false")
    if refuse != (kind in REFUSE_TYPES):
        raise fail("refuse", f"must be {str(kind in REFUSE_TYPES).lower()} for a case of type {kind!r}")
    sources = _strings(obj["sources"], "sources", fail)
    facts = obj["facts"]
    if not isinstance(facts, list) or not all(isinstance(g, list) for g in facts):
        raise fail("facts", "must be a list of lists of strings")
    groups = tuple(_strings(g, f"facts[{i}]", fail) for i, g in enumerate(facts))
    answer = obj["answer"]
    if not isinstance(answer, str):
        raise fail("answer", "must be a string")
    if refuse:
        if sources:
            raise fail("sources", "must be empty: the articles do not answer a case that must be refused")
        if groups:
            raise fail("facts", "must be empty for a case that must be refused")
        if answer:
            raise fail("answer", 'must be "" for a case that must be refused')
    else:
        if not sources:
            raise fail("sources", f"a case of type {kind!r} needs at least one gold article")
        if kind in MULTI_SOURCE_TYPES and len(set(sources)) < 2:
            raise fail("sources", f"a case of type {kind!r} needs at least two different gold articles")
        if not groups:
            raise fail("facts", f"a case of type {kind!r} needs at least one group of acceptable strings")
        if kind == "conflict" and len(groups) < 2:
            raise fail("facts", "a conflict case needs a group for each of the disagreeing figures")
        if not answer.strip():
            raise fail("answer", f"a case of type {kind!r} needs a gold answer")
    for i, g in enumerate(groups):
        if not g:
            raise fail(f"facts[{i}]", "is an empty group: no answer could ever match it")
    for s in sources:
        if s not in known_sources:
            raise fail("sources", f"{s!r} is not a file of the article folder")
    if len(set(sources)) != len(sources):
        raise fail("sources", "names an article twice")
    return Case(
        id=cid,
        question=question.strip(),
        lang=lang,
        type=kind,
        sources=sources,
        answer=answer,
        facts=groups,
        refuse=refuse,
    )


def parse_conversation(obj: dict, where: str, known_sources: set[str]) -> Case:
    """A conversation case: a case's fields plus ``kind``, ``history``, ``standalone`` and ``needs_context``."""
    fail = _failer(obj, where)
    missing = [f for f in CONVERSATION_FIELDS if f not in obj]
    if missing:
        raise fail(missing[0], "missing (a conversation case has kind, history, standalone and needs_context)")
    kind, needs = obj["kind"], obj["needs_context"]
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    history = _strings(obj["history"], "history", fail)
    if not history:
        raise fail("history", "a conversation case needs at least one earlier question")
    standalone = obj["standalone"]
    if not isinstance(standalone, str) or not standalone.strip():
        raise fail("standalone", "must be a non-empty string")
    if not isinstance(needs, bool):
        raise fail("needs_context", "must be true or false")
    if kind == "followup" and not needs:
        raise fail("needs_context", "a follow-up needs the earlier questions: must be true")
    if kind == "switch" and needs:
        raise fail("needs_context", "a topic switch stands alone: must be false")
    rest = {k: v for k, v in obj.items() if k not in CONVERSATION_FIELDS}
    case = parse_case(rest, where, known_sources)
    return replace(case, history=history, kind=kind, standalone=standalone.strip(), needs_context=needs)


def _failer(obj: dict, where: str) -> Callable[[str, str], CaseError]:
    """``fail(field, problem)``: the error for one field of this line's case, naming the line and the case's id."""
    cid = obj.get("id")
    if isinstance(cid, str) and cid:
        where = f"{where} (id {cid!r})"

    def fail(field: str, problem: str) -> CaseError:
        return CaseError(f"{where}: field {field!r}: {problem}")

    return fail


def _strings(value: object, field: str, fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise fail(field, "must be a list of strings")
    if any(not s.strip() for s in value):
        raise fail(field, "contains an empty string")
    return tuple(s.strip() for s in value)
