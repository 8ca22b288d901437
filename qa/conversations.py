"""Saved conversations: every answered question of the page, kept per user in a SQLite file.

One class, :class:`Conversations`, makes every database call itself; callers get plain values back. A turn
is written as soon as its answer is complete, each in a transaction of its own, so a crash loses at most the
answer being made. A conversation belongs to one owner (the ``QA_AUTH`` user when the page asks for a login,
else :data:`LOCAL_OWNER`): another owner's id is answered exactly like an unknown one, so nothing leaks.

Each call opens its own short-lived connection: the page and the API call from worker threads, and SQLite in
WAL mode lets readers go on while one writer holds the lock. A corrupt file or a lock held too long becomes a
:class:`qa.errors.ConversationsError` whose message says what to do; the page keeps answering without saving.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.config import Config
from qa.errors import ConversationsError, InputError, NotFound
from qa.types import Answer, AnswerMode, Citation, Passage, Phrasing, Reprint, TimeRef

log = logging.getLogger(__name__)

LOCAL_OWNER = "local"  # the owner of every conversation when the page asks for no login
FILE_NAME = "conversations.sqlite3"
MAX_TITLE = 200
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    timings TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (conversation, position)
);
"""


def conversations_path(config: Config) -> Path:
    """``<store folder>/conversations.sqlite3``, or under ``QA_CACHE_DIR`` when the store is a Chroma server."""
    return (config.cache_dir if config.chroma_url else config.store) / FILE_NAME


def owner_of(username: str | None) -> str:
    """The logged-in user (Gradio's ``request.username``), or the single local owner without a login."""
    return username or LOCAL_OWNER


@dataclass(frozen=True)
class Turn:
    """One question and its answer (``Answer.to_dict()``), with the timings and the settings (k, mode) in force."""

    position: int
    question: str
    answer: dict[str, Any]
    timings: dict[str, Any]
    settings: dict[str, Any]
    created: float

    def to_answer(self) -> Answer:
        return answer_from_dict(self.answer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "question": self.question,
            "answer": self.answer,
            "timings": self.timings,
            "settings": self.settings,
            "created": self.created,
        }


@dataclass(frozen=True)
class Conversation:
    """A conversation's header; ``turns`` is filled by :meth:`Conversations.get` only (``size`` always)."""

    id: str
    owner: str
    title: str
    created: float
    updated: float
    size: int = 0
    turns: list[Turn] = field(default_factory=list)

    def answers(self) -> list[Answer]:
        return [t.to_answer() for t in self.turns]

    def to_dict(self, turns: bool = True) -> dict[str, Any]:
        head: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "created": self.created,
            "updated": self.updated,
            "size": self.size,
        }
        return {**head, "turns": [t.to_dict() for t in self.turns]} if turns else head


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The :class:`Answer` of a ``qa ask --json`` object, as far as it is kept there: enough to render and export.

    Passages come back without their store id and path (the JSON does not carry them); the source names them.
    """
    counts = data.get("counts") or {}
    phrasing = data.get("phrasing")
    return Answer(
        question=data["question"],
        text=data["answer"],
        refused=bool(data["refused"]),
        mode=AnswerMode(data["mode"]),
        citations=[
            Citation(
                **{
                    **c,
                    "copies": tuple(Reprint(**r) for r in c.get("copies") or []),
                    "times": tuple(TimeRef(**t) for t in c.get("times") or []),
                }
            )
            for c in data.get("citations") or []
        ],
        passages=[
            Passage(
                id=f"{p['source']}:{p['start']}",
                source=p["source"],
                path=p["source"],
                text=p["text"],
                start=p["start"],
                end=p["end"],
                title=p.get("title"),
                label=p.get("label"),
                date=p.get("date"),
                lang=p.get("lang"),
                score=p.get("score") or 0.0,
                page=p.get("page"),
                copies=tuple(Reprint(**r) for r in p.get("copies") or []),
            )
            for p in data.get("passages") or []
        ],
        timings=dict(data.get("timings") or {}),
        claims=int(counts.get("claims", 0)),
        verified=int(counts.get("verified", 0)),
        dropped=int(counts.get("dropped", 0)),
        rewritten=data.get("rewritten"),
        note=data.get("note"),
        phrasing=Phrasing(**phrasing) if phrasing else None,
        lang=data.get("lang"),
        confidence=data.get("confidence"),
    )


class Conversations:
    """The conversations of one SQLite file. ``busy_timeout``: seconds a write waits for another writer's lock."""

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._ready = False  # the schema exists (made on the first connection that succeeds)

    # --- the calls -------------------------------------------------------------------------------------

    def create(self, owner: str, title: str) -> Conversation:
        """A new, empty conversation titled by its first question."""
        title = _title(title)
        now = time.time()
        conversation = Conversation(uuid.uuid4().hex, owner, title, now, now)
        with self._connect() as db:
            db.execute(
                "INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                (conversation.id, owner, title, now, now),
            )
        return conversation

    def append(self, conversation_id: str, owner: str, answer: Answer, settings: dict[str, Any]) -> Turn:
        """Write one answered question as the conversation's next turn (its own transaction)."""
        now = time.time()
        data = answer.to_dict()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the position is read and written under the write lock
            self._check_owner(db, conversation_id, owner)
            (last,) = db.execute(
                "SELECT COALESCE(MAX(position), 0) FROM turns WHERE conversation = ?", (conversation_id,)
            ).fetchone()
            turn = Turn(last + 1, answer.question, data, dict(answer.timings), dict(settings), now)
            db.execute(
                "INSERT INTO turns (conversation, position, question, answer, timings, settings, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    turn.position,
                    turn.question,
                    _dump(turn.answer),
                    _dump(turn.timings),
                    _dump(turn.settings),
                    now,
                ),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return turn

    def list(self, owner: str) -> list[Conversation]:
        """The owner's conversations, the most recently continued first, without their turns."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.owner, c.title, c.created, c.updated, "
                "(SELECT COUNT(*) FROM turns t WHERE t.conversation = c.id) "
                "FROM conversations c WHERE c.owner = ? ORDER BY c.updated DESC, c.rowid DESC",
                (owner,),
            ).fetchall()
        return [Conversation(*row) for row in rows]

    def get(self, conversation_id: str, owner: str) -> Conversation:
        """One of the owner's conversations with every turn in order; :class:`NotFound` for any other id."""
        with self._connect() as db:
            head = self._check_owner(db, conversation_id, owner)
            rows = db.execute(
                "SELECT position, question, answer, timings, settings, created FROM turns "
                "WHERE conversation = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        turns = [Turn(p, q, _load(a), _load(t), _load(s), c) for p, q, a, t, s, c in rows]
        cid, who, title, created, updated = head
        return Conversation(cid, who, title, created, updated, size=len(turns), turns=turns)

    def rename(self, conversation_id: str, owner: str, title: str) -> Conversation:
        title = _title(title)
        with self._connect() as db:
            self._check_owner(db, conversation_id, owner)
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
        return self.get(conversation_id, owner)

    def delete(self, conversation_id: str, owner: str) -> None:
        with self._connect() as db:
            self._check_owner(db, conversation_id, owner)
            db.execute("DELETE FROM turns WHERE conversation = ?", (conversation_id,))
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # --- the parts ---------------------------------------------------------------------------------------

    @staticmethod
    def _check_owner(db: sqlite3.Connection, conversation_id: str, owner: str) -> tuple[str, str, str, float, float]:
        row = db.execute(
            "SELECT id, owner, title, created, updated FROM conversations WHERE id = ? AND owner = ?",
            (str(conversation_id), owner),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"no saved conversation {conversation_id!r}: list yours under Conversations "
                "(or GET /api/conversations) and use one of their ids"
            )
        return row[0], row[1], row[2], row[3], row[4]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (explicit transactions only), closed at the end; SQLite errors become
        :class:`ConversationsError` with what to do, and a transaction left open is committed, or rolled back
        on an error."""
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if not self._ready:
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(SCHEMA)
                self._ready = True
            yield db
            if db.in_transaction:
                db.execute("COMMIT")
        except sqlite3.Error as e:
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise self._explain(e) from e
        except OSError as e:
            raise ConversationsError(
                f"cannot create the folder of the saved conversations {self.path} ({e}); make it writable"
            ) from e
        except BaseException:
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            if db is not None:
                db.close()

    def _explain(self, e: sqlite3.Error) -> ConversationsError:
        text = str(e)
        log.warning("saved conversations %s: %s", self.path, text)
        if "locked" in text or "busy" in text:
            return ConversationsError(
                f"the saved conversations ({self.path}) are locked by another program for more than "
                f"{self.busy_timeout:g} s, so this was not saved; close that program (e.g. an open sqlite3 "
                "shell) and try again"
            )
        if isinstance(e, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            return ConversationsError(
                f"the saved conversations file {self.path} is corrupt ({text}); move it away or delete it, and a "
                "new one is started with the next answer"
            )
        return ConversationsError(
            f"the saved conversations file {self.path} cannot be used ({text}); check that it and its folder "
            "are writable"
        )


def _title(title: str) -> str:
    title = " ".join(str(title or "").split())
    if not title:
        raise InputError("a conversation's title cannot be empty; type one")
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _load(text: str) -> Any:
    return json.loads(text)
