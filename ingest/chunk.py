"""Split an article into passages of whole sentences, sized in the embedder's own tokens.

Sentence boundaries come from sentencex, which knows the abbreviations and punctuation of ~300 languages
(Arabic ``؟``, Italian ``sig.``, English ``U.S.``); a sentence it ends on an initial or a dotted short form
it does not know (Arabic ``د.`` and ``ص.ب.``, Albanian ``p.sh.``, Italian ``U.S.A.``) is joined to the next.
Every passage is an exact span of the article text, so an answer can quote and highlight it by offsets.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

import sentencex

from ingest.load import DATE_LINE
from qa.types import Article, Passage

TARGET_TOKENS = 200
MAX_TOKENS = 250
OVERLAP_SENTENCES = 1

# A sentence never ends on these: one letter ("U.", "د."), dotted short forms ("p.sh.", "ص.ب."), or a
# few abbreviations sentencex lacks (checked per language, without the final dot, case-folded).
_INITIALS = re.compile(r"[^\W\d_]\.|(?:[^\W\d_]{1,3}\.){2,}")
_ABBREVIATIONS = {"ar": {"هـ"}, "it": {"pag", "n"}, "sq": {"znj", "gjen", "kol", "fq", "nr"}, "en": {"ms", "approx"}}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    paragraph: bool = False  # a paragraph break precedes this sentence


def split_sentences(text: str, lang: str | None) -> list[Span]:
    """Sentence spans of ``text``, trimmed of surrounding white space, in order."""
    spans: list[Span] = []
    para = False
    try:
        bounds = sentencex.get_sentence_boundaries(lang or "en", text)
    except Exception:  # an unknown language code: English rules are the safest fallback
        bounds = sentencex.get_sentence_boundaries("en", text)
    sentences: list[tuple[int, int, bool]] = []
    for b in bounds:
        s, e = b["start_index"], b["end_index"]
        if b.get("is_paragraph_break") or not text[s:e].strip():
            para = para or "\n" in text[s:e]
            continue
        s, e = _trim(text, s, e)
        if sentences and not para and "\n" not in text[sentences[-1][1]:s] \
                and _ends_in_abbreviation(text[sentences[-1][0]:sentences[-1][1]], lang):
            sentences[-1] = (sentences[-1][0], e, sentences[-1][2])
            continue
        sentences.append((s, e, para))
        para = False
    for s, e, para in sentences:
        dated = DATE_LINE.match(text[s:e])  # a leading "date 2024-11" is the article's metadata, not its first words
        if dated and s + dated.end() < e:
            spans.append(Span(s, s + dated.end(), para))
            s, para = _trim(text, s + dated.end(), e)[0], False
        for piece_s, piece_e in _split_lines(text, s, e):
            spans.append(Span(piece_s, piece_e, para or bool(spans and "\n\n" in text[spans[-1].end:piece_s])))
            para = False
    return spans


def _ends_in_abbreviation(sentence: str, lang: str | None) -> bool:
    last = sentence.rsplit(None, 1)[-1].lstrip("([«“\"'")
    return bool(_INITIALS.fullmatch(last)) or last[:-1].casefold() in _ABBREVIATIONS.get(lang or "en", ())


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _split_lines(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """A headline or caption line with no full stop is its own sentence, not glued to the next one.

    A line break followed by a lower-case word or punctuation is a hard wrap inside a sentence, and is kept.
    """
    out: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text[s:e]):
        a, b = _trim(text, s + m.start(), s + m.end())
        if a >= b:
            continue
        if out and not (text[a].isupper() or text[a].isdigit() or not text[a].isalpha() and text[a].isalnum()):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def chunk(article: Article, count_tokens: Callable[[str], int], target: int = TARGET_TOKENS,
          max_tokens: int = MAX_TOKENS) -> list[Passage]:
    """Pack sentences into passages of about ``target`` tokens, overlapping by one sentence.

    A new passage starts at a paragraph break once the current one is half full, so passages follow the
    article's structure; a single sentence longer than ``max_tokens`` is cut between words.
    """
    units: list[tuple[Span, int]] = []
    for sp in split_sentences(article.text, article.lang):
        units.extend(_fit(article.text, sp, count_tokens, max_tokens))
    groups: list[list[tuple[Span, int]]] = []
    cur: list[tuple[Span, int]] = []
    size = 0
    for unit in units:
        sp, n = unit
        full = size + n > max_tokens or (sp.paragraph and size >= target // 2) or size >= target
        if cur and full:
            groups.append(cur)
            tail = cur[-OVERLAP_SENTENCES:] if len(cur) > 1 and not sp.paragraph else []
            cur, size = list(tail), sum(t for _, t in tail)
            if size + n > max_tokens:
                cur, size = [], 0
        cur.append(unit)
        size += n
    if cur:
        groups.append(cur)
    key = hashlib.sha256(article.path.encode()).hexdigest()[:12]
    out = []
    for i, g in enumerate(groups):
        s, e = g[0][0].start, g[-1][0].end
        out.append(Passage(id=f"{key}-{article.sha256[:12]}-{i:04d}", source=article.source, path=article.path,
                           text=article.text[s:e], start=s, end=e, title=article.title, date=article.date,
                           lang=article.lang))
    return out


def _fit(text: str, sp: Span, count_tokens: Callable[[str], int], max_tokens: int) -> list[tuple[Span, int]]:
    n = count_tokens(text[sp.start:sp.end])
    if n <= max_tokens:
        return [(sp, n)]
    words = [m.span() for m in re.finditer(r"\S+", text[sp.start:sp.end])]
    per = max(1, int(len(words) * max_tokens / n * 0.9))
    out = []
    for i in range(0, len(words), per):
        a, b = sp.start + words[i][0], sp.start + words[min(i + per, len(words)) - 1][1]
        out.append((Span(a, b, sp.paragraph and i == 0), count_tokens(text[a:b])))
    return out
