"""Which question to search for in a conversation: the question alone, or joined with the one it leans on.

A chat sends every question with the turns before it, and most questions do not need them: searching each one
joined with the previous question answered unrelated and off-topic questions from the previous topic
(``docs/decisions.md``, Conversations). So a question is searched exactly as if asked alone unless it is
*elliptical*: it cannot be understood without the previous question ("and in Kyiv?", "how many of them?",
"Et selon Séoul ?", "Mit welchem Minister?"). Only then is it searched together with the question it follows
(itself resolved the same way, so a follow-up of a follow-up keeps the topic).

A question the classifier is less sure of (between its two thresholds) is searched alone first, and with the
question before it only when alone it finds no answer: "which news outlet reported that?" names no story,
and finds none; "what is the capital of Slovenia?" is far below even the lower threshold, and is refused
whatever came before it.

Whether a question is elliptical is learned, not listed: a logistic regression over the multilingual
embedder's vector of the question and its length, trained (``python -m evals train-followup``; data card in
``qa/models/followup.md``) on complete questions of XQuAD articles 0-35 in 12 languages and hand-written
complete and elliptical questions about other subjects in 16 languages. It needs no language model, so the
extractive mode and the local model resolve alike, in any language the embedder knows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import InputError
from qa.types import Answer
from qa.vectors import dots

WEIGHTS = Path(__file__).with_name("models") / "followup.json"
SCALARS = ("log_words", "bias")
MAX_TURNS = 6  # earlier user questions looked at: a chain of follow-ups longer than this starts afresh


def scalars(question: str) -> list[float]:
    """The features besides the question's vector (``SCALARS``)."""
    words = len(re.findall(r"\w+", question)) or 1
    return [math.log(words) / 3.0, 1.0]


def features(questions: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """One row per question: its embedding (e5 query vector) and ``SCALARS``, in float64."""
    vecs = np.asarray(vectors, dtype=np.float64).reshape(len(questions), -1)
    return np.hstack([vecs, np.asarray([scalars(q) for q in questions], dtype=np.float64).reshape(len(questions), -1)])


@dataclass(frozen=True)
class Resolution:
    """What a question in a conversation is searched as: ``searched`` is the question itself unless it leans on
    the conversation (``used_context``), and then the question joined with the one it follows."""

    question: str
    searched: str
    used_context: bool
    elliptical: float  # the classifier's probability that the question cannot stand alone
    joined: str | None = None  # the question joined with the one it would follow (None: no earlier question)
    maybe: bool = False  # not clearly elliptical, but it may be: try ``joined`` when the question alone fails
    seen: tuple[str, ...] = ()  # the sentences the previous answer quoted (``shown_quotes``)

    @property
    def rewritten(self) -> str | None:
        """The text searched instead of the question, when the conversation changed it."""
        return self.searched if self.used_context else None


@dataclass(frozen=True)
class Resolver:
    """The trained weights, the probability above which a question is taken as elliptical, and the one above
    which it may be (searched with the conversation only when it finds no answer alone)."""

    weights: np.ndarray
    threshold: float
    maybe_threshold: float

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Resolver:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("scalars") != list(SCALARS):
            raise ValueError(f"{path} was trained with other features; run `python -m evals train-followup`")
        weights = np.asarray(data["weights"], dtype=np.float64)
        return cls(weights, float(data["threshold"]), float(data["maybe_threshold"]))

    def probabilities(self, questions: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """The probability that each question is elliptical."""
        if not questions:
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-dots(features(questions, vectors), self.weights)))

    def resolve(
        self, question: str, history: Sequence[dict] | None, embed: Callable[[list[str]], np.ndarray]
    ) -> Resolution:
        """The question as it is to be searched, given the conversation before it.

        ``embed`` gives the e5 query vectors of texts (``Embedder.queries``). Each earlier user question is
        resolved in turn, so "and before that?" after "how many of them?" after "how many troops were sent?"
        is searched with the question that named the troops.
        """
        earlier = user_questions(history)[-MAX_TURNS:]
        asked = [*earlier, question]
        p = self.probabilities(asked, embed(asked))
        standing: str | None = None  # the last earlier question, resolved
        for text, prob in zip(earlier, p[:-1]):
            standing = f"{standing} {text}" if standing is not None and prob >= self.threshold else text
        if standing is None:
            return Resolution(question, question, False, float(p[-1]))
        joined = f"{standing} {question}"
        needs = float(p[-1]) >= self.threshold
        maybe = not needs and float(p[-1]) >= self.maybe_threshold
        seen = shown_quotes(history)
        return Resolution(question, joined if needs else question, needs, float(p[-1]), joined, maybe, seen)


HISTORY_FORMAT = (
    'history is a list of {"role": "user"|"assistant", "content": "..."} messages (or earlier Answers, or '
    "(question, answer) pairs)"
)


def check_history(history: object) -> list[dict]:
    """The chat history as ``{"role", "content"}`` messages, oldest first, or an :class:`InputError` naming the
    turn that is not one. Besides OpenAI-style messages (content a string, or a list of content parts), earlier
    :class:`Answer` objects (their question and text), objects with ``role`` and ``content`` (LlamaIndex's
    ``ChatMessage``) and (question, answer) pairs (older Gradio chats) are read as the turns they are: a history
    that cannot be read is refused, never silently dropped (a follow-up would lose what it refers to)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, Sequence):
        raise InputError(f"{HISTORY_FORMAT}, not a {type(history).__name__}")
    return [m for i, turn in enumerate(history) for m in _messages(turn, i + 1)]


def _messages(turn: object, n: int) -> list[dict]:
    if isinstance(turn, Answer):
        return [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.text}]
    if isinstance(turn, (tuple, list)) and len(turn) == 2 and all(x is None or isinstance(x, str) for x in turn):
        return [{"role": r, "content": c} for r, c in zip(("user", "assistant"), turn) if c is not None]
    if isinstance(turn, dict):
        role, content = turn.get("role"), turn.get("content")
    elif hasattr(turn, "role") and hasattr(turn, "content"):
        role, content = turn.role, turn.content
    else:
        raise InputError(f"history turn {n} is a {type(turn).__name__}; {HISTORY_FORMAT}")
    role, text = getattr(role, "value", role), message_text(content)
    if not isinstance(role, str) or not isinstance(text, str):
        raise InputError(f'history turn {n} needs a text "role" and "content"; {HISTORY_FORMAT}')
    return [{"role": role, "content": text}]


def message_text(content: object) -> object:
    """A message's text: a string, the text parts of a list of content parts joined, "" for no content (an
    assistant's tool call); other values are returned as they are, for the caller to refuse."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "\n".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return content


_QUOTE = re.compile(r"«([^«»]+)»")
_ADDED_DATE = re.compile(r" \[\d{4}-\d{2}(?:-\d{2})?\]")  # ``qa.times.annotate``'s dates added to a quote


def shown_quotes(history: Sequence[dict] | None) -> tuple[str, ...]:
    """The sentences the last answer of a chat history quoted («…», as ``qa.answer`` writes them), without the
    dates added in square brackets: what the user has just read."""
    answers = [m.get("content") for m in history or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    last = answers[-1] if answers and isinstance(answers[-1], str) else ""
    return tuple(_ADDED_DATE.sub("", q).strip() for q in _QUOTE.findall(last))


def user_questions(history: Sequence[dict] | None) -> list[str]:
    """The user's turns of a chat history, oldest first (assistant turns and malformed messages left out)."""
    contents = [m.get("content") for m in history or [] if isinstance(m, dict) and m.get("role") == "user"]
    return [c.strip() for c in contents if isinstance(c, str) and c.strip()]
