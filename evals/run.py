"""Put every case to an assistant and judge each answer.

The assistant is the library's own :class:`qa.Assistant` (the same object the CLI and the page use) over a
store that holds the bundled corpus: a temporary one by default, so a run measures exactly the articles the
cases were written about and nothing a user happened to ingest.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from evals.dataset import Case
from evals.metrics import Judgement, judge
from ingest.sync import sync
from qa.answer import Assistant
from qa.config import BUNDLED_ARTICLES, PROJECT_DIR
from qa.errors import InputError, QAError
from qa.types import Answer, AnswerMode

log = logging.getLogger(__name__)


class Asker(Protocol):
    def ask(self, question: str, k: int = 5, history: list[dict] | None = None) -> Answer: ...


@dataclass(frozen=True)
class Record:
    """One case, the answer it got and the verdict; ``error`` is set when ``ask`` raised instead of answering."""

    case: Case
    answer: Answer
    judgement: Judgement
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "case": self.case.to_dict(),
            "answer": self.answer.to_dict(),
            "judgement": self.judgement.to_dict(),
            "error": self.error,
        }


def select(cases: Sequence[Case], lang: str | None = None, limit: int | None = None) -> list[Case]:
    """The cases in one question language (all when ``lang`` is None), at most ``limit`` of them, in file order."""
    chosen = [c for c in cases if lang is None or c.lang == lang]
    if not chosen:
        langs = ", ".join(sorted({c.lang for c in cases}))
        raise InputError(f"no case has the question language {lang!r}; the cases are in {langs}")
    return chosen[:limit] if limit is not None else chosen


def open_assistant(store: Path, llm: str | None) -> Assistant:
    """An assistant over a local store at ``store`` that holds (at least) the bundled corpus.

    The store is always a local folder, even when ``QA_CHROMA_URL`` points at a server: an evaluation must
    not write the sample articles into somebody's collection. Ingest is incremental, so a given store that
    already holds the corpus is only checked.
    """
    assistant = Assistant.from_env(create=True, store=store, llm=llm, chroma_url="")
    report = sync([BUNDLED_ARTICLES], assistant.store, assistant.embedder, assistant.config, progress=False)
    for failure in report.failed:
        log.warning("not ingested: %s: %s", failure.path, failure.reason)
    bundled = {p.name for p in BUNDLED_ARTICLES.iterdir()}
    others = sorted({a.source for a in assistant.articles()} - bundled)
    if others:
        log.warning(
            "the store also holds %d other articles (e.g. %s); retrieval scores will differ from a clean run",
            len(others),
            others[0],
        )
    return assistant


def ask_all(assistant: Asker, cases: Sequence[Case], k: int, progress: bool = True) -> list[Record]:
    """Ask every case's question and judge the answer: a single question with no history; a conversation case
    after its earlier questions, each asked in turn with the real answers before it as history (as the page
    and the chat API send them), and, when it stands alone, once more with no history to compare.

    A :class:`QAError` from ``ask`` (say, a question the library rejects) is recorded as a failed case with
    its message, so one bad case cannot hide the scores of the others; any other exception is a bug and stops.
    """
    records: list[Record] = []
    right = 0
    bar = tqdm(cases, desc="evals", unit="case", disable=not progress or None)
    for case in bar:
        error = None
        history: list[dict] = []
        alone = None
        try:
            for earlier in case.history:
                said = assistant.ask(earlier, k=k, history=list(history))
                history += [{"role": "user", "content": earlier}, {"role": "assistant", "content": said.text}]
            answer = assistant.ask(case.question, k=k, history=history or None)
            if case.history and not case.needs_context:
                alone = assistant.ask(case.question, k=k)
        except QAError as e:
            error = str(e)
            answer = Answer(question=case.question, text="", refused=False, mode=AnswerMode.ERROR, note=error)
        judgement = judge(case, answer, alone)
        right += judgement.correct
        records.append(Record(case, answer, judgement, error))
        bar.set_postfix(correct=f"{right}/{len(records)}")
    return records


def meta(
    assistant: Assistant,
    cases_file: str,
    k: int,
    lang: str | None,
    limit: int | None,
    started: datetime,
    seconds: float,
) -> dict:
    """What a report needs to say about how it was made, so two reports can be compared fairly."""
    return {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "llm": assistant.config.llm,
        "llm_status": assistant.llm_status(),
        "reader": assistant.reader,
        "k": k,
        "embedder": assistant.embedder.name,
        "cases_file": cases_file,
        "lang": lang,
        "limit": limit,
        "commit": _commit(),
    }


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
