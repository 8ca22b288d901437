"""The :class:`Assistant`: the one object the CLI, the page and the evals talk to.

The chain is retrieve -> select -> quote -> phrase. Retrieval ranks the evidence sentences; the trained
selector (``qa.select``) scores the best ``POOL`` of them for "answers the question" and refuses when none
clears its calibrated threshold (a refusal still lists the related passages); the chosen sentence is quoted
verbatim with its citation, with a second one that adds to it and other articles' differing figures. The
LLM never writes an answer of its own: it copies the answer's words from the quote and translates only those
(``qa.phrase``). Without an LLM, or when it fails, the answer is the quotes (extractive mode). Why this
shape, with the figures of what it replaced: ``docs/decisions.md``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace

from qa.config import Config, offline_environment
from qa.embed import Embedder
from qa.errors import LLMError
from qa.filters import Filters, day_number
from qa.instructions import INSTRUCTION
from qa.llm import LLM, make_llm
from qa.phrase import phrase, states_figure
from qa.read import READ, read
from qa.resolve import Resolver, check_history
from qa.retrieve import Retriever, Scored, check_k, check_question
from qa.select import SAME_FACT, Candidate, Selection, Selector, neighbour
from qa.store import Store, open_store
from qa.strings import say
from qa.text import detect_language, is_heading, normalize_numbers
from qa.times import annotate, relative_times
from qa.types import (
    Answer,
    AnswerMode,
    Citation,
    LLMState,
    Passage,
    Phrasing,
    Reprint,
    article_name,
    reprints_from_metadata,
)
from qa.vectors import dot

log = logging.getLogger(__name__)

POOL = 8  # candidate sentences the selector reads (the answer's sentence is among the best 8 for 65 of 70 eval cases)
# A second quote (or another article's figure) needs at least this share of the best sentence's selector score:
# on the eval cases 0.3 of the best stated every key fact for 0.571 of answerable questions, the selector's
# threshold 0.529; a second quote from another article must also clear the threshold (docs/decisions.md).
ALSO_SHARE = 0.3
# Below this calibrated confidence the answer opens with "Uncertain:" (in the question's language) and the model
# writes no answer line: the quote is shown for what it is, a sentence that may not answer the question.
UNCERTAIN = 0.5
# Another article's figure is listed as a differing one only within this factor of a figure the quote states:
# two sources' counts of the same thing are of a size. Without it the line listed any other figure of the
# story, and was right in 1 of its 12 appearances in the eval cases (docs/decisions.md).
SAME_ORDER = 1.5
NO_FIGURE = (
    "the quote states no figure beyond the question's, so no answer line is written: the quote is the answer "
    "(qa.phrase)"
)


@dataclass(frozen=True)
class ArticleInfo:
    """One ingested article as the store knows it (for lists and deletion)."""

    source: str
    path: str
    title: str | None
    date: str | None
    lang: str | None
    passages: int
    copies: tuple[Reprint, ...] = ()  # the same story published elsewhere (later, or undated)
    label: str | None = None  # the title, else the first words of the lead

    @property
    def name(self) -> str:
        return article_name(self.label, self.title, self.source)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "path": self.path,
            "title": self.title,
            "label": self.name,
            "date": self.date,
            "lang": self.lang,
            "passages": self.passages,
            "copies": [asdict(c) for c in self.copies],
        }


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int
    languages: dict[str, int]
    embedder: str
    store: str

    def to_dict(self) -> dict:
        return {
            "articles": self.articles,
            "passages": self.passages,
            "languages": self.languages,
            "embedder": self.embedder,
            "store": self.store,
        }


class Assistant:
    def __init__(
        self,
        config: Config,
        embedder: Embedder,
        store: Store,
        llm: LLM | None = None,
        selector: Selector | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.llm = llm
        self.retriever = Retriever(store, embedder)
        self.selector = selector or Selector.load()
        self.resolver = resolver or Resolver.load()

    @classmethod
    def from_env(cls, create: bool = False, **overrides) -> Assistant:
        """Build from ``QA_*`` variables; keyword arguments (``store=``, ``llm=``, ...) override them."""
        offline_environment()
        config = Config.from_env(**overrides)
        embedder = Embedder.from_config(config)
        store = open_store(config, embedder.name, embedder.dim, create=create)
        return cls(config, embedder, store, make_llm(config))

    def without_llm(self) -> Assistant:
        """The same store and embedder, answering extractively (quotes only)."""
        return Assistant(self.config, self.embedder, self.store, None, self.selector, self.resolver)

    def start_llm(self) -> None:
        """Prepare and start the local model now (e.g. while a page loads) instead of on the first question."""
        start = getattr(self.llm, "start", None)
        if start is not None:
            start()

    def llm_status(self) -> str:
        """The model and its state as one line for people (the page's status line, evals reports)."""
        return "extractive (no LLM)" if self.llm is None else f"{self.llm.name}: {self.llm.status}"

    @property
    def reader(self) -> str:
        """Who chooses the quoted sentence: "llm" (the model reads the selector's best candidates, ``qa.read``)
        or "selector"."""
        return "llm" if self.llm is not None and self.config.model_reads else "selector"

    def llm_state(self) -> LLMState | None:
        """The model's state (None when answers are extractive), for code that acts on it."""
        return None if self.llm is None else self.llm.state

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()

    def ask(
        self,
        question: str,
        k: int = 5,
        history: Sequence[object] | None = None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
        langs: list[str] | None = None,
    ) -> Answer:
        """Answer with verified citations (or refuse); see :meth:`stream` for the same, incrementally."""
        answer = None
        for item in self.stream(question, k=k, history=history, since=since, until=until, sources=sources, langs=langs):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        k: int = 5,
        history: Sequence[object] | None = None,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
        langs: list[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the LLM's text as it arrives, then exactly one final, verified :class:`Answer`.

        The final text can differ from what was streamed: unsupported sentences are removed. ``since``/``until``
        (YYYY-MM-DD, YYYY-MM or YYYY), ``sources`` and ``langs`` restrict the search (``qa.filters``).
        """
        t0 = time.perf_counter()
        q, k = check_question(question), check_k(k)
        where = Filters.of(since, until, sources, langs).where()
        lang = detect_language(q, short=True)
        # In a conversation, a question is searched exactly as if asked alone unless it leans on the question
        # before it ("and in Kyiv?"); then it is searched joined with that one (``qa.resolve``).
        resolution = self.resolver.resolve(q, check_history(history), self.embedder.queries)
        searched = resolution.searched
        seen = resolution.seen  # a follow-up asks what the previous answer did not say: its quotes rank lower
        passages, ranked, selection = self._select(searched, k, where, lang, resolution.used_context, seen)
        if (
            resolution.maybe
            and resolution.joined
            and not selection.answered
            and selection.top_score >= self.selector.unrelated
        ):
            # It may lean on the conversation, and alone it finds no answer, but something near one (a question
            # whose words find nothing the articles say is about another subject, and is refused as it would be
            # alone): searched with the conversation, kept if answered.
            joined = self._select(resolution.joined, k, where, lang, True, seen)
            if joined[2].answered:
                searched, (passages, ranked, selection) = resolution.joined, joined
        timings: dict[str, float | None] = {"retrieve_s": round(time.perf_counter() - t0, 3), "first_token_s": None}
        base = dict(question=q, passages=passages, rewritten=searched if searched != q else None, lang=lang)

        def done(answer: Answer) -> Answer:
            answer.timings.update(timings, total_s=round(time.perf_counter() - t0, 3))
            if answer.timings["first_token_s"] is None:
                answer.timings["first_token_s"] = answer.timings["total_s"]
            return answer

        if INSTRUCTION.search(q):
            yield done(self._refusal(lang, "the question asks for something other than what the articles say", base))
            return
        if self.llm is not None and self.reader == "llm" and selection.order:
            # The model reads the selector's best candidates and points at the one that answers, or at none.
            t_read = time.perf_counter()
            top = selection.order[:READ]
            try:
                reading = read(self.llm, searched, [_text(ranked[i], passages) for i in top])
            except LLMError as e:
                log.warning("the model could not read the candidates, the selector chooses: %s", e)
            else:
                timings["read_s"] = round(time.perf_counter() - t_read, 3)
                if reading.choice is None:
                    why = f"{self.llm.name} read the {len(top)} best sentences and found none that answers the question"
                    yield done(self._refusal(lang, why, base))
                    return
                selection = selection.chosen(top[reading.choice], [_candidate(s, passages) for s in ranked[:POOL]])
        if not selection.answered:
            yield done(
                self._refusal(
                    lang,
                    "no sentence of the articles answers the question (the answer selector "
                    f"gave the best one {selection.top_score:.2f}, below its threshold "
                    f"{selection.threshold:.2f})",
                    base,
                )
            )
            return
        quoted = self._quote(selection, ranked, passages, base)
        if quoted.confidence is not None and quoted.confidence < UNCERTAIN:
            yield done(replace(quoted, text=f"{say('uncertain', lang)} {quoted.text}"))
            return
        main = quoted.citations[0]
        if self.llm is None:
            yield done(quoted)
            return
        if not states_figure(main.quote, q):
            # No figure to state: the model's line would be a fragment of the quote, checked only for being one.
            yield done(replace(quoted, note=NO_FIGURE))
            return
        phrasing: Phrasing | None = None
        try:
            for item in phrase(self.llm, self._similarity, q, lang, main.quote, main.lang):
                if isinstance(item, str):
                    if timings["first_token_s"] is None:
                        timings["first_token_s"] = round(time.perf_counter() - t0, 3)
                    yield item
                else:
                    phrasing = item
        except LLMError as e:
            log.warning("LLM failed, answering extractively: %s", e)
            note = f"The language model failed ({e}); this answer quotes the articles directly."
            yield done(replace(quoted, note=note))
            return
        yield done(_phrased(quoted, phrasing))

    def _select(
        self,
        searched: str,
        k: int,
        where: dict | None,
        lang: str | None,
        joined: bool = False,
        seen: tuple[str, ...] = (),
    ) -> tuple[list[Passage], list[Scored], Selection]:
        """The passages for ``searched``, their sentences best first and the selector's verdict on the ``POOL``
        best (its indices are theirs); ``joined``: ``searched`` is a follow-up joined with the question before it,
        whose answer quoted ``seen``."""
        passages, ranked = self.retriever.evidence(searched, k, where=where)
        candidates = [_candidate(s, passages) for s in ranked[:POOL]]
        qvec = self.embedder.queries([searched])[0]
        return passages, ranked, self.selector.select(searched, qvec, candidates, lang, joined, seen)

    def _similarity(self, a: str, b: str) -> float:
        """Cosine of two texts' embeddings (multilingual: a phrase and its translation)."""
        va, vb = self.embedder.passages([a, b])
        return dot(va, vb)

    def search(
        self,
        question: str,
        k: int = 5,
        since: str | None = None,
        until: str | None = None,
        sources: list[str] | None = None,
        langs: list[str] | None = None,
    ) -> list[Passage]:
        """The ``k`` passages closest in meaning to the question, best first, in any language (filtered as
        :meth:`stream` says)."""
        where = Filters.of(since, until, sources, langs).where()
        return self.retriever.search(check_question(question), check_k(k), where=where)

    def _refusal(self, lang: str | None, why: str, base: dict) -> Answer:
        return Answer(
            text=say("refusal", lang),
            refused=True,
            mode=AnswerMode.LLM if self.llm else AnswerMode.EXTRACTIVE,
            citations=[],
            claims=0,
            verified=0,
            dropped=0,
            note=why,
            timings={},
            **base,
        )

    def _quote(self, selection: Selection, ranked: list[Scored], passages: list[Passage], base: dict) -> Answer:
        """The chosen sentence quoted verbatim, verified by construction, with the neighbour that belongs to it
        (``qa.select.neighbour``); then sentences the selector rates at least ``ALSO_SHARE`` as likely to answer:
        the best one that adds to the first (an answer in two sentences, a question in two parts), and those of
        other articles that state other figures, with their source and date (sources that disagree).
        ``ranked``: every sentence of the passages, the selector's candidates first."""
        pool = ranked[:POOL]
        first = pool[selection.order[0]]
        chosen = [_citation(first, passages, ranked)]
        also = [i for i in selection.order[1:] if selection.scores[i] >= ALSO_SHARE * selection.top_score]
        newer = _newer_restatement(first, selection, pool, passages)
        if newer is not None:
            # Another article, published later, states the same fact: its version is the current one, so it
            # comes first, and each quote says when it was published.
            chosen.insert(0, _citation(newer, passages, ranked))
        else:
            # From another article a second quote must clear the threshold on its own: an answer in two parts
            # from two articles is rarer than a related line that only looks like one.
            second = next(
                (
                    pool[i]
                    for i in also
                    if (
                        passages[pool[i].n - 1].source == chosen[0].source or selection.scores[i] >= selection.threshold
                    )
                    and _adds(_text(pool[i], passages), chosen[0].quote)
                ),
                None,
            )
            if second is not None:
                chosen.append(_citation(second, passages))
        stated = set().union(*(normalize_numbers(c.quote) for c in chosen))
        dated = newer is not None
        text = " ".join(f"{f'{c.date}: ' if dated else ''}«{annotate(c.quote, c.times)}» [{c.n}]" for c in chosen)
        extra: list[Citation] = []
        asked = normalize_numbers(base["question"])
        own = stated - asked  # the figures the quotes state that the question does not
        if own:
            cited_sources = {c.source for c in chosen}
            for s in (pool[i] for i in also):
                if passages[s.n - 1].source not in cited_sources and _differs(
                    normalize_numbers(_text(s, passages)) - stated - asked, own
                ):
                    extra.append(_citation(s, passages))
                    cited_sources.add(passages[s.n - 1].source)
        if extra:
            # Sources that disagree, said in words in the question's language, each with its article and date.
            text += f" {say('other_figures', base['lang'])} " + " ".join(
                f"{c.name}{', ' + c.date if c.date else ''}: «{annotate(c.quote, c.times)}» [{c.n}]" for c in extra
            )
        citations = chosen + extra
        return Answer(
            text=text,
            refused=False,
            mode=AnswerMode.EXTRACTIVE,
            citations=citations,
            claims=len(citations),
            verified=len(citations),
            dropped=0,
            note=None,
            timings={},
            confidence=selection.confidence,
            **base,
        )

    def articles(self) -> list[ArticleInfo]:
        """Every ingested article, sorted by file name."""
        by_path: dict[str, list[dict]] = {}
        for m in self.store.all_metadata().values():
            by_path.setdefault(m["path"], []).append(m)
        out = [
            ArticleInfo(
                source=ms[0]["source"],
                path=path,
                title=ms[0].get("title"),
                date=ms[0].get("date"),
                lang=ms[0].get("lang"),
                passages=len(ms),
                copies=reprints_from_metadata(ms[0].get("copies")),
                label=ms[0].get("label"),
            )
            for path, ms in by_path.items()
        ]
        return sorted(out, key=lambda a: (a.source, a.path))

    def stats(self) -> Stats:
        arts = self.articles()
        return Stats(
            articles=len(arts),
            passages=sum(a.passages for a in arts),
            languages=dict(Counter(a.lang or "?" for a in arts).most_common()),
            embedder=self.embedder.name,
            store=self.store.location,
        )


def _citation(s: Scored, passages: list[Passage], ranked: Sequence[Scored] = ()) -> Citation:
    """``s`` quoted from its passage; with ``ranked`` (every sentence of the passages), together with the
    neighbour that belongs to it (``_with_neighbour``)."""
    p = passages[s.n - 1]
    start, end = _with_neighbour(s, ranked, p.text) if ranked else (s.start, s.end)
    quote = p.text[start:end]
    return Citation(
        n=s.n,
        source=p.source,
        quote=quote,
        start=p.start + start,
        end=p.start + end,
        verified=True,
        title=p.title,
        label=p.name,
        date=p.date,
        lang=p.lang,
        page=p.page_at(p.start + start),
        copies=p.copies,
        times=relative_times(quote, p.date, p.lang),
    )


def _with_neighbour(s: Scored, ranked: Sequence[Scored], text: str) -> tuple[int, int]:
    """The span of ``s`` in its passage's ``text``, widened to the sentence just before or after it that
    ``qa.select.neighbour`` says belongs to the quote (none when it is a heading or a caption, or not adjacent).
    News sites often give each sentence a line of its own, so the neighbour may be on the next line: kept to one
    paragraph, the conversation cases' first claims fell 0.630 -> 0.565 (docs/decisions.md)."""
    own = sorted((x for x in ranked if x.n == s.n), key=lambda x: x.start)
    at = next(i for i, x in enumerate(own) if x.start == s.start)
    before = own[at - 1] if at > 0 and not text[own[at - 1].end : s.start].strip() else None
    after = own[at + 1] if at + 1 < len(own) and not text[s.end : own[at + 1].start].strip() else None
    side = neighbour(
        s.similarity,
        *(x.similarity if x is not None and not is_heading(text[x.start : x.end]) else None for x in (before, after)),
    )
    if side < 0 and before is not None:
        return before.start, s.end
    if side > 0 and after is not None:
        return s.start, after.end
    return s.start, s.end


def _phrased(quoted: Answer, phrasing: Phrasing | None) -> Answer:
    """The answer's words in the question's language before the quote, when they held up; else the quote alone."""
    if phrasing is None:
        why = (
            "the language model's words could not be checked against the quote (not copied from it word for "
            "word, or a translation that changed a figure), so the answer is the quote alone"
        )
        return replace(quoted, note=why)
    main = quoted.citations[0]
    note = (
        f"«{phrasing.text}» is a machine translation of «{phrasing.copied}», copied from the quote"
        if phrasing.translated
        else None
    )
    return replace(
        quoted,
        phrasing=phrasing,
        mode=AnswerMode.LLM,
        text=f"{phrasing.text} [{main.n}] {quoted.text}",
        note=note,
        claims=quoted.claims + 1,
        verified=quoted.verified + 1,
    )


def _newer_restatement(
    first: Scored, selection: Selection, pool: list[Scored], passages: list[Passage]
) -> Scored | None:
    """The latest sentence of another, later-dated article that states what ``first`` states (its embedding's
    cosine with ``first`` at least ``SAME_FACT``) and answers the question by itself (clears the threshold)."""
    when = passages[first.n - 1].date
    if not when:
        return None
    later = [
        (day_number(p.date), pool[i])
        for i in selection.order[1:]
        if selection.scores[i] >= selection.threshold
        and (p := passages[pool[i].n - 1]).source != passages[first.n - 1].source
        and p.date
        and day_number(p.date) > day_number(when, last=True)
        and dot(pool[i].vector, first.vector) >= SAME_FACT
    ]
    return max(later, key=lambda x: x[0])[1] if later else None


def _text(s: Scored, passages: list[Passage]) -> str:
    return passages[s.n - 1].text[s.start : s.end]


def _candidate(s: Scored, passages: list[Passage]) -> Candidate:
    p = passages[s.n - 1]
    return Candidate(_text(s, passages), p.lang, s.vector, s.context, s.passage_similarity)


def _differs(other: set[str], quoted: set[str]) -> bool:
    """Whether another source's figures include another value of a quantity the quote states: a figure within
    ``SAME_ORDER`` of one of the quote's (two counts of one thing differ by at most a third of the larger)."""
    values = [v for v in map(float, quoted) if v > 0]
    return any(max(v, w) / min(v, w) <= SAME_ORDER for w in map(float, other) if w > 0 for v in values)


def _adds(sentence: str, quoted: str) -> bool:
    """Whether a second sentence says something the first does not: a figure, or most of its words."""
    if normalize_numbers(sentence) - normalize_numbers(quoted):
        return True
    words = {w.casefold() for w in re.findall(r"[^\W\d_]{4,}", sentence)}
    known = {w.casefold() for w in re.findall(r"[^\W\d_]{4,}", quoted)}
    return len(words - known) > len(words) / 2
