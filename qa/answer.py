"""The :class:`Assistant`: the one object the CLI, the page and the evals talk to.

The chain is retrieve -> decide -> quote -> phrase -> verify. Correctness comes from the parts we control:
retrieval ranks the evidence sentences, rules decide whether the best of them states the kind of fact
asked for (else the answer is a refusal that still lists the related passages), and that sentence is
quoted verbatim with its citation. The LLM only phrases: it reads the question and the quoted sentence
alone, and writes one sentence in the question's language. Its sentence
is kept only when ``qa.cite`` verifies it against the quote and every name it states is in the quote; the
quote always stays. Measured on the eval cases, letting the 1.5B model read eight evidence sentences and
write the answer scored worse (24% of answerable cases right) than quoting the best sentence (34%): it
picks the wrong sentence, swaps names between sources and invents places. Without an LLM, or when it
fails, the answer is the quote alone (extractive mode).
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from qa.cite import INSTRUCTION, MARKER, Verifier
from qa.config import Config, offline_environment
from qa.embed import Embedder
from qa.errors import InputError, LLMError
from qa.llm import LLM, make_llm
from qa.prompt import Evidence, messages
from qa.retrieve import Retriever, Scored, check_k, check_question
from qa.store import Store, open_store
from qa.text import NUMBER_WORDS, detect_language, normalize_numbers
from qa.types import Answer, AnswerMode, Citation, LLMState, Passage

log = logging.getLogger(__name__)

# Cosine (e5 query vs sentence) below which no sentence of the store is about the question at all.
OFF_TOPIC = 0.80
# Extractive answers have no LLM to say "not found": they need a closer match to quote anything.
EXTRACTIVE_MIN = 0.81
QUOTE_MARGIN = 0.03  # a sentence ranked this close to the best may be quoted instead when only it fits the question
CONFLICT_MARGIN = 0.08  # other articles' figures are shown from sentences ranked this close to the best (0.05: half the
# disagreement cases found, 0.08: all that 0.12 finds)
POOL = 6  # evidence sentences that may be quoted (the fact's sentence is among the best 5 for 58/70 eval cases, 8: 65)
# A question in two parts: a second question word after "and" (or a comma), or two question marks.
_QWORDS = (r"what|when|who|whom|where|which|how|why|che|cosa|quale|quali|quando|chi|come|dove|quanto|quanti|perch[eé]|"
           r"was|wann|wer|wen|wie|wo|welche[nrs]?|warum|que|quoi|quel(le)?s?|quand|qui|comment|o[uù]|combien|pourquoi|"
           r"qu[eé]|cu[aá]ndo|qui[eé]n|c[oó]mo|d[oó]nde|cu[aá]nt[oa]s?|cu[aá]l|kur|çfarë|kush|si|ku|sa|pse|cil[ia]")
TWO_PARTS = re.compile(rf"(\b(and|e|ed|und|et|y|dhe)\b|,)\s+(\w+\s+){{0,2}}({_QWORDS})\b|\?.+\?|"
                       r"و(متى|ما|من|كم|أين|في أي|ماذا)", re.I)
_BRACKETED = re.compile(r"\[[^\[\]]{1,80}\]")  # "[001_x.txt]" and other brackets that are not "[n]" markers
ANSWER_TOKENS = 96  # one sentence, in any script
# Questions whose answer is a figure: an answer (or quote) without a number cannot be the answer.
QUANTITY = re.compile(r"\b(how many|how much|number of|how (large|big|high|long|far)|population|percent|cost|price|"
                      r"value|worth|valeur|wert|valore|valor|vlera|what range|qu[eé] alcance|welche reichweite|"
                      r"quelle portée|quale portata|"
                      r"combien|nombre de|wie viele|wie viel|wie hoch|wie gro(ß|ss)|einwohner\w*|kost\w*|anzahl|"
                      r"quanti|quante|quanto|numero di|popolazione|costo|cu[aá]nt[oa]s?|n[uú]mero de|poblaci[oó]n|"
                      r"sa |sa\?|numri|popullsi\w*|kushton)\b|كم|عدد|سكان|تكلفة", re.I)
WHEN = re.compile(r"\b(when|what date|which day|quando|quand|wann|an welchem tag|cu[aá]ndo|kur)\b|متى", re.I)
TIME_WORDS = re.compile(r"\d|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|"
                        r"june|july|august|september|october|november|december|week|month|year|luned|marted|mercoled|"
                        r"gioved|venerd|sabato|domenica|gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|"
                        r"settembre|ottobre|dicembre|settimana|mese|anno|lundi|mardi|mercredi|jeudi|vendredi|samedi|"
                        r"dimanche|janvier|février|mars|avril|mai|juin|juillet|août|semaine|mois|année|montag|dienstag|"
                        r"mittwoch|donnerstag|freitag|samstag|sonntag|woche|monat|jahr|lunes|martes|miércoles|jueves|"
                        r"viernes|sábado|domingo|semana|mes|año|e hënë|e martë|e mërkurë|e enjte|enjten|e premte|"
                        r"e shtunë|e diel|janar|shkurt|mars|prill|qershor|korrik|gusht|shtator|tetor|nëntor|dhjetor|"
                        r"javë|muaj|vit)|الأسبوع|الشهر|يوم|الاثنين|الخميس|الجمعة|السبت|الأحد|عام", re.I)
# Spelled-out numbers that state a figure ("for three years"); "one" and "due" are mostly other words.
SPELLED_FIGURES = set(NUMBER_WORDS) - {"one", "due"}
# A question that leans on the previous one: it starts with "and", "what about", or is a few words long.
FOLLOW_UP = re.compile(r"\s*(and|but|also|what about|how about|e|ed|ma|e invece|et|mais|und|aber|y|pero|dhe|por|edhe|"
                       r"و|ثم|وماذا)\b", re.I)
REFUSAL_TEXT = {
    "en": "The articles do not say.", "fr": "Les articles ne le disent pas.", "de": "Die Artikel sagen das nicht.",
    "it": "Gli articoli non lo dicono.", "es": "Los artículos no lo dicen.", "sq": "Artikujt nuk e thonë këtë.",
    "ar": "لا تذكر المقالات ذلك.", "pt": "Os artigos não dizem isso.", "ru": "В статьях об этом не сказано.",
}


@dataclass(frozen=True)
class ArticleInfo:
    """One ingested article as the store knows it (for lists and deletion)."""

    source: str
    path: str
    title: str | None
    date: str | None
    lang: str | None
    passages: int

    def to_dict(self) -> dict:
        return {"source": self.source, "path": self.path, "title": self.title, "date": self.date,
                "lang": self.lang, "passages": self.passages}


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int
    languages: dict[str, int]
    embedder: str
    store: str

    def to_dict(self) -> dict:
        return {"articles": self.articles, "passages": self.passages, "languages": self.languages,
                "embedder": self.embedder, "store": self.store}


class Assistant:
    def __init__(self, config: Config, embedder: Embedder, store: Store, llm: LLM | None = None) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.llm = llm
        self.retriever = Retriever(store, embedder)
        self.verifier = Verifier(embedder)

    @classmethod
    def from_env(cls, create: bool = False, **overrides) -> "Assistant":
        """Build from ``QA_*`` variables; keyword arguments (``store=``, ``llm=``, ...) override them."""
        offline_environment()
        config = Config.from_env(**overrides)
        embedder = Embedder.from_config(config)
        store = open_store(config, embedder.name, embedder.dim, create=create)
        return cls(config, embedder, store, make_llm(config))

    def without_llm(self) -> "Assistant":
        """The same store and embedder, answering extractively (quotes only)."""
        return Assistant(self.config, self.embedder, self.store, llm=None)

    def start_llm(self) -> None:
        """Prepare and start the local model now (e.g. while a page loads) instead of on the first question."""
        start = getattr(self.llm, "start", None)
        if start is not None:
            start()

    def llm_status(self) -> str:
        """The model and its state as one line for people (the page's status line, evals reports)."""
        return "extractive (no LLM)" if self.llm is None else f"{self.llm.name}: {self.llm.status}"

    def llm_state(self) -> LLMState | None:
        """The model's state (None when answers are extractive), for code that acts on it."""
        return None if self.llm is None else self.llm.state

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()

    def ask(self, question: str, k: int = 5, history: list[dict] | None = None) -> Answer:
        """Answer with verified citations (or refuse); see :meth:`stream` for the same, incrementally."""
        answer = None
        for item in self.stream(question, k=k, history=history):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, k: int = 5, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Yield the LLM's text as it arrives, then exactly one final, verified :class:`Answer`.

        The final text can differ from what was streamed: unsupported sentences are removed.
        """
        t0 = time.perf_counter()
        q, k = check_question(question), check_k(k)
        searched, context = _with_context(q, history)
        lang = detect_language(q, short=True)
        passages, ranked = self.retriever.evidence(searched, k)
        timings: dict[str, float | None] = {"retrieve_s": round(time.perf_counter() - t0, 3), "first_token_s": None}
        base = dict(question=q, passages=passages, rewritten=searched if searched != q else None)

        def done(answer: Answer) -> Answer:
            answer.timings.update(timings, total_s=round(time.perf_counter() - t0, 3))
            if answer.timings["first_token_s"] is None:
                answer.timings["first_token_s"] = answer.timings["total_s"]
            return answer

        if INSTRUCTION.search(q):
            yield done(self._refusal(lang, "the question asks for something other than what the articles say", base))
            return
        if not ranked or max(s.similarity for s in ranked) < OFF_TOPIC:
            yield done(self._refusal(lang, "no passage is close enough to the question", base))
            return
        quoted = self._extractive(lang, _candidate(q, ranked, passages), ranked, passages, base, None)
        if quoted.refused or self.llm is None:
            yield done(quoted)
            return
        main = quoted.citations[0]
        draft = ""
        try:
            evidence = [Evidence(main.n, passages[main.n - 1], (main.quote,))]
            for delta in self.llm.stream(messages(q, lang, evidence, context), max_tokens=ANSWER_TOKENS):
                if timings["first_token_s"] is None:
                    timings["first_token_s"] = round(time.perf_counter() - t0, 3)
                draft += delta
                yield delta
        except LLMError as e:
            log.warning("LLM failed, answering extractively: %s", e)
            yield done(replace(quoted, note=f"The language model failed ({e}); this answer quotes the articles directly."))
            return
        yield done(self._phrased(draft, quoted, passages, lang, q))

    def search(self, question: str, k: int = 5) -> list[Passage]:
        """The ``k`` passages closest in meaning to the question, best first, in any language."""
        return self.retriever.search(check_question(question), check_k(k))

    def _phrased(self, draft: str, quoted: Answer, passages: list[Passage], lang: str | None, question: str) -> Answer:
        """The LLM's sentence before the quote, when it holds up against the quote; else the quote alone."""
        main = quoted.citations[0]
        spans = {(main.n, main.start - passages[main.n - 1].start)}
        draft = _BRACKETED.sub(lambda m: m.group(0) if MARKER.fullmatch(m.group(0)) else "", draft)
        checked = self.verifier.verify(draft, passages, lang, question, usable=lambda n, start: (n, start) in spans)
        # German capitalises every noun: there capitals do not mark names.
        unquoted = set() if lang == "de" else _names(checked.text) - _names(question) - _names(main.quote)
        if not checked.verified or unquoted or not _fits(question, checked.text):
            why = "the language model's sentence could not be verified against the quoted article, so the answer " \
                  "is the quote alone"
            return replace(quoted, note=why, claims=quoted.claims + checked.claims, dropped=checked.claims)
        return replace(quoted, mode=AnswerMode.LLM, text=f"{checked.text} {quoted.text}", claims=quoted.claims + checked.claims,
                       verified=quoted.verified + checked.verified, dropped=checked.dropped)

    def _refusal(self, lang: str | None, why: str, base: dict, claims: int = 0, dropped: int = 0) -> Answer:
        return Answer(text=REFUSAL_TEXT.get(lang or "en", REFUSAL_TEXT["en"]), refused=True, mode=AnswerMode.LLM if self.llm else AnswerMode.EXTRACTIVE,
                      citations=[], claims=claims, verified=0, dropped=dropped, note=why, timings={}, **base)

    def _extractive(self, lang: str | None, best: Scored | None, ranked: list[Scored], passages: list[Passage],
                    base: dict, note: str | None) -> Answer:
        """Quote the candidate sentence only when it is (nearly) the best match and close enough; else refuse."""
        if best is None or best.score < ranked[0].score - QUOTE_MARGIN or best.similarity < EXTRACTIVE_MIN:
            why = "no sentence matches the question closely enough to quote" if best else \
                "no close sentence states the kind of fact asked for (a figure, a date or a name)"
            return Answer(text=REFUSAL_TEXT.get(lang or "en", REFUSAL_TEXT["en"]), refused=True, mode=AnswerMode.EXTRACTIVE,
                          note=note or why, timings={}, **base)
        return self._quote(best, ranked, passages, base, note)

    def _quote(self, s: Scored, ranked: list[Scored], passages: list[Passage], base: dict, note: str | None) -> Answer:
        """The sentence quoted verbatim (plus other articles' figures), verified by construction."""
        chosen = [_citation(s, passages)]
        second = self._second_part(base["question"], s, ranked, passages)
        if second is not None:
            chosen.append(_citation(second, passages))
        quoted = " ".join(f"«{c.quote}» [{c.n}]" for c in chosen)
        text, citations = self._disagreement(base["question"], quoted, chosen, ranked, passages)
        return Answer(text=text, refused=False, mode=AnswerMode.EXTRACTIVE, citations=citations, claims=len(citations),
                      verified=len(citations), dropped=0, note=note, timings={}, **base)

    def _second_part(self, question: str, first: Scored, ranked: list[Scored], passages: list[Passage]) -> Scored | None:
        """For a question in two parts ("how much ..., and which envoy ...?"), the sentence that best matches the
        second part alone, when it is close enough and is not the first quote.

        The sentences that match the whole question best mostly answer its first part.
        """
        m = TWO_PARTS.search(question)
        if not m:
            return None
        quoted = passages[first.n - 1].text[first.start:first.end]
        pool = [s for s in ranked[:2 * POOL] if passages[s.n - 1].text[s.start:s.end] != quoted]
        if not pool:
            return None
        sims = self.embedder.passages([passages[s.n - 1].text[s.start:s.end] for s in pool]) @ \
            self.embedder.queries([question[m.start():]])[0]
        best = int(np.argmax(sims))
        return pool[best] if sims[best] >= OFF_TOPIC else None

    def _disagreement(self, question: str, text: str, citations: list[Citation], ranked: list[Scored],
                      passages: list[Passage]) -> tuple[str, list[Citation]]:
        """For "how many" questions, add figures that other articles give for the same thing, with their source.

        The small LLM tends to pick one figure; a reader must see that sources disagree.
        """
        if not QUANTITY.search(question) or not normalize_numbers(text):
            return text, citations
        cited_sources = {c.source for c in citations}
        stated = normalize_numbers(text)
        extra = []
        for s in ranked[:POOL]:
            p = passages[s.n - 1]
            quote = p.text[s.start:s.end]
            if p.source in cited_sources or s.score < ranked[0].score - CONFLICT_MARGIN:
                continue
            if normalize_numbers(quote) - stated - normalize_numbers(question):
                extra.append(_citation(s, passages))
                cited_sources.add(p.source)
        if not extra:
            return text, citations
        more = " ".join(f"{c.title or c.source}{', ' + c.date if c.date else ''}: «{c.quote}» [{c.n}]" for c in extra)
        return f"{text} ≠ {more}", citations + extra

    def articles(self) -> list[ArticleInfo]:
        """Every ingested article, sorted by file name."""
        by_path: dict[str, list[dict]] = {}
        for m in self.store.all_metadata().values():
            by_path.setdefault(m["path"], []).append(m)
        out = [ArticleInfo(source=ms[0]["source"], path=path, title=ms[0].get("title"), date=ms[0].get("date"),
                           lang=ms[0].get("lang"), passages=len(ms)) for path, ms in by_path.items()]
        return sorted(out, key=lambda a: (a.source, a.path))

    def stats(self) -> Stats:
        arts = self.articles()
        return Stats(articles=len(arts), passages=sum(a.passages for a in arts),
                     languages=dict(Counter(a.lang or "?" for a in arts).most_common()),
                     embedder=self.embedder.name, store=self.store.location)


def _citation(s: Scored, passages: list[Passage]) -> Citation:
    p = passages[s.n - 1]
    return Citation(n=s.n, source=p.source, quote=p.text[s.start:s.end], start=p.start + s.start,
                    end=p.start + s.end, verified=True, title=p.title, date=p.date, lang=p.lang)


def _fits(question: str, sentence: str) -> bool:
    """Does the sentence state the kind of fact the question asks for (a figure, a time)?"""
    words = {w.casefold() for w in re.findall(r"[^\W\d_]+", sentence)}
    figure = re.search(r"[\d٠-٩]|\b(thousands?|migliaia|milliers|tausende|miles|mijëra)\b|آلاف", sentence, re.I) \
        or words & SPELLED_FIGURES
    if QUANTITY.search(question) and not figure:
        return False
    return not WHEN.search(question) or bool(TIME_WORDS.search(sentence))


def _candidate(question: str, ranked: list[Scored], passages: list[Passage]) -> Scored | None:
    """The best of the best ``POOL`` sentences that states the kind of fact asked for, if any."""
    return next((s for s in ranked[:POOL] if _fits(question, passages[s.n - 1].text[s.start:s.end])), None)


def _names(text: str) -> set[str]:
    """Capitalised Latin-script words past a sentence's start, as 4-letter stems ("Parigi" and "Paris" agree).

    A phrased answer may name nothing that is not in the quote or the question: the small model swaps names
    between sources ("received in Pyongyang" for "in Wonsan") in sentences that otherwise read as a translation.
    """
    out = set()
    for m in re.finditer(r"[^\W\d_][\w'’-]+", text):
        word, before = m.group(0), text[:m.start()].rstrip()
        if word[0].isupper() and ord(word[0]) < 0x250 and before and before[-1] not in ".!?]«»\"“":
            out.add(word.casefold()[:4])
    return out


def _with_context(question: str, history: list[dict] | None) -> tuple[str, str | None]:
    """A short follow-up ("and how many were wounded?") is searched together with the previous question."""
    previous = [m.get("content") for m in history or [] if isinstance(m, dict) and m.get("role") == "user"]
    previous = [p for p in previous if isinstance(p, str) and p.strip()]
    if not previous or not (len(question.split()) <= 4 or FOLLOW_UP.match(question)):
        return question, None
    return f"{previous[-1].strip()} {question}", previous[-1].strip()
