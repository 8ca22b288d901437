"""Parse the ``[n]`` citations of a draft and keep only those the cited passage really supports.

A citation is verified when the claim's checkable content is in the passage: every number it states
(3,000 = 3 000 = 3.000 = 3000 = ٣٠٠٠, number words where practical), every quoted span, and a
multilingual semantic match between the claim and its best sentence in the passage (the claim and the
article may be in different languages, so names are a bonus, not a requirement). The supporting sentence
becomes the citation's quote, with offsets in the article, so a UI can highlight it.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qa.embed import Embedder
from qa.text import ARABIC_DIGITS, Span, normalize_numbers, split_sentences
from qa.types import Citation, Passage

# Semantic similarity (e5 "passage:" vs "passage:") a claim needs with its supporting sentence; the lower
# bar applies when the claim's numbers or names are found in that sentence as well.
SEMANTIC = 0.84
SEMANTIC_WITH_EVIDENCE = 0.80
MAX_CITES = 2

_WORDS = r"(?:source|sources|passage|passages|fonte|fonti|quelle|quellen|burimi|burimet|fuente|fuentes|المصدر|المصادر)"
MARKER = re.compile(rf"[\[【(]\s*(?:{_WORDS}\s*)?(\d{{1,3}}(?:\s*(?:,|;|and|e|و|und|et|y|dhe)\s*(?:{_WORDS}\s*)?\d{{1,3}})*)\s*[\]】)]", re.I)
_QUOTED = re.compile(r"[\"“”«»„](.{6,}?)[\"“”«»„]")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-ZÀ-ÖØ-ÞĆČŠŽ][\w’'\-]{2,}")
# Words that address the assistant, not the reader: in a question they ask for something other than the
# articles' content; in an article they are an injection attempt, and such a sentence is never evidence.
INSTRUCTION = re.compile(r"(system prompt|system notice|from now on|answer every question|your (instructions|prompt|rules)|ignore (all |the |your )?(previous|above|prior)|"
                        r"(repeat|print|show|output) (the |all |everything )?(text|words|lines|message)s? (above|before)|"
                        r"prompt di sistema|istruzioni precedenti|ignora (le |tutte le )?(istruzioni|regole)|invite système|message système|tes consignes|vos consignes|"
                        r"instructions précédentes|"
                        r"systemprompt|vorherigen anweisungen|udhëzimet e mëparshme|injoro(ni)? (udhëzimet|rregullat|të gjitha)|"
                        r"تجاهل (جميع |كل )?التعليمات|التعليمات السابقة|التعليمات المخفية|ما قيل لك|موجه النظام|"
                        r"hidden instructions|what you were told)", re.I)


@dataclass(frozen=True)
class Claim:
    """One sentence of a draft, without its markers, and the passage numbers it cites."""

    text: str
    cites: tuple[int, ...]


@dataclass
class Verified:
    text: str
    citations: list[Citation] = field(default_factory=list)
    claims: int = 0
    verified: int = 0
    dropped: int = 0


def _numbers_checkable(text: str) -> set[str]:
    """Numbers a claim asserts (digits only: spelled-out small numbers are too often idiom to require)."""
    text = unicodedata.normalize("NFKC", text).translate(ARABIC_DIGITS)
    return {n for n in normalize_numbers(re.sub(r"[^\d\s.,\u00a0\u202f]+", " ", text)) if n}


def split_claims(draft: str, lang: str | None) -> list[Claim]:
    """Sentences of the draft with the passage numbers cited in (or right after) each one."""
    spans = split_sentences(draft, lang)
    claims: list[Claim] = []
    for sp in spans:
        piece = draft[sp.start:sp.end]
        lead = re.match(rf"^(?:\s*{MARKER.pattern})+", piece, re.I)
        if lead and claims:  # markers that the splitter pushed to the next sentence belong to the previous one
            prev = claims[-1]
            claims[-1] = Claim(prev.text, prev.cites + _cited(lead.group(0)))
            piece = piece[lead.end():]
        text = " ".join(MARKER.sub(" ", piece).split())
        text = re.sub(r"\s+([.,;:!?؟])", r"\1", text)
        if re.search(r"\w", text):
            claims.append(Claim(text, _cited(piece)))
    return claims


def _cited(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for m in MARKER.finditer(text):
        for n in re.findall(r"\d+", m.group(1)):
            if int(n) not in out:
                out.append(int(n))
    return tuple(out)


def _content_words(text: str) -> set[str]:
    """Words of five letters or more (short ones are mostly grammar), short names past the first word
    ("Kim", "RIA") and figures, as 4-character stems."""
    words = {w.casefold()[:4] for w in re.findall(r"[^\W\d_]{5,}", text)}
    short_names = {m.group(0).casefold() for m in re.finditer(r"\b[^\W\d_]{2,4}\b", text)
                   if m.group(0)[0].isupper() and m.start() > 0}
    return words | short_names | normalize_numbers(text)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class Verifier:
    """Checks claims against passages; the embedder gives the multilingual semantic match."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def sentences(self, passage: Passage) -> list[Span]:
        return split_sentences(passage.text, passage.lang) or [Span(0, len(passage.text))]

    def support(self, claim: str, passage: Passage, claim_vec: np.ndarray | None = None,
                claim_lang: str | None = None, usable: Callable[[int], bool] | None = None) -> tuple[float, Span] | None:
        """The supporting sentence of ``passage`` and its similarity, or None when the claim is not supported."""
        spans = self.sentences(passage)
        texts = [passage.text[s.start:s.end] for s in spans]
        texts = ["" if INSTRUCTION.search(t) else t for t in texts]  # an injected order supports nothing
        if claim_vec is None:
            claim_vec = self.embedder.passages([claim])[0]
        sims = self.embedder.passages(texts) @ claim_vec
        wanted = _numbers_checkable(claim)
        folded = _fold(" ".join(texts))
        same_lang = claim_lang is not None and claim_lang == passage.lang
        if same_lang and any(_fold(q) not in folded for q in _QUOTED.findall(claim) if len(q.split()) >= 2):
            return None
        names = {n.casefold()[:5] for n in _NAME.findall(claim)}
        if same_lang and names and 2 * sum(1 for n in names if n in folded) < len(names):
            return None  # in the article's own language, a claim's names must mostly be there
        best: tuple[float, Span] | None = None
        for i, (sp, sim) in enumerate(zip(spans, sims)):
            if not texts[i] or (usable is not None and not usable(sp.start)):
                continue
            window = " ".join(texts[max(0, i - 1):i + 2])
            if wanted and not wanted <= normalize_numbers(window):
                continue
            found_names = sum(1 for n in names if n in _fold(window))
            bar = SEMANTIC_WITH_EVIDENCE if (wanted or found_names) else SEMANTIC
            if sim >= bar and (best is None or sim > best[0]):
                best = (float(sim), sp)
        return best

    def verify(self, draft: str, passages: list[Passage], lang: str | None, question: str = "",
               usable: Callable[[int, int], bool] | None = None) -> Verified:
        """Keep the claims whose citations hold; re-point a claim that cites the wrong passage.

        Out-of-range and unsupported citations are removed; a claim left with no supported citation is
        looked up in the other passages and, if none supports it, dropped from the answer. A claim that only
        restates the question (no word or figure the question lacks) answers nothing and is dropped too; a
        claim keeps at most its ``MAX_CITES`` best-supported citations. ``usable(n, start)`` can restrict
        which sentences (passage n, offset in the passage) may support a claim at all.
        """
        claims = split_claims(draft, lang)
        out = Verified(text="", claims=len(claims))
        if not claims:
            return out
        vecs = self.embedder.passages([c.text for c in claims])
        kept: list[str] = []
        seen: dict[tuple[int, int, int], Citation] = {}
        asked = _content_words(question)
        for claim, vec in zip(claims, vecs):
            if question and not _content_words(claim.text) - asked:
                out.dropped += 1
                continue
            cited = [n for n in claim.cites if 1 <= n <= len(passages)]
            good = self._supported(claim.text, vec, lang, passages, cited, usable)[:MAX_CITES]
            if not good:
                others = [n for n in range(1, len(passages) + 1) if n not in cited]
                good = self._supported(claim.text, vec, lang, passages, others, usable)[:1]
            if not good:
                out.dropped += 1
                continue
            out.verified += 1
            marks = []
            for n, (_, sp) in good:
                p = passages[n - 1]
                key = (n, p.start + sp.start, p.start + sp.end)
                if key not in seen:
                    seen[key] = Citation(n=n, source=p.source, quote=p.text[sp.start:sp.end], start=key[1],
                                         end=key[2], verified=True, title=p.title, date=p.date, lang=p.lang)
                marks.append(f"[{n}]")
            body = claim.text
            end = re.search(r"[.!?؟。]$", body)
            kept.append(f"{body[:-1]} {''.join(dict.fromkeys(marks))}{body[-1]}" if end else f"{body} {''.join(dict.fromkeys(marks))}")
        out.text = " ".join(kept)
        out.citations = sorted(seen.values(), key=lambda c: (c.n, c.start))
        return out

    def _supported(self, claim: str, vec: np.ndarray, lang: str | None, passages: list[Passage],
                   numbers: list[int], usable: Callable[[int, int], bool] | None
                   ) -> list[tuple[int, tuple[float, Span]]]:
        found = []
        for n in numbers:
            s = self.support(claim, passages[n - 1], vec, lang,
                             None if usable is None else (lambda start, n=n: usable(n, start)))
            if s is not None:
                found.append((n, s))
        return sorted(found, key=lambda x: -x[1][0])
