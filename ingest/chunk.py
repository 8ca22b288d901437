"""Split an article into passages of whole sentences, sized in the embedder's own tokens.

Sentence boundaries come from sentencex, which knows the abbreviations and punctuation of ~300 languages
(Arabic ``؟``, Italian ``sig.``, English ``U.S.``); a sentence it ends on an initial or a dotted short form
it does not know (Arabic ``د.`` and ``ص.ب.``, Albanian ``p.sh.``, Italian ``U.S.A.``) is joined to the next.
Every passage is an exact span of the article text, so an answer can quote and highlight it by offsets.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from qa.text import Span, split_sentences
from qa.types import Article, Passage

TARGET_TOKENS = 200
MAX_TOKENS = 250
OVERLAP_SENTENCES = 1


def chunk(
    article: Article, count_tokens: Callable[[str], int], target: int = TARGET_TOKENS, max_tokens: int = MAX_TOKENS
) -> list[Passage]:
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
        out.append(
            Passage(
                id=f"{key}-{article.sha256[:12]}-{i:04d}",
                source=article.source,
                path=article.path,
                text=article.text[s:e],
                start=s,
                end=e,
                title=article.title,
                label=article.label,
                date=article.date,
                lang=article.lang,
            )
        )
    return out


def _fit(text: str, sp: Span, count_tokens: Callable[[str], int], max_tokens: int) -> list[tuple[Span, int]]:
    n = count_tokens(text[sp.start : sp.end])
    if n <= max_tokens:
        return [(sp, n)]
    words = [m.span() for m in re.finditer(r"\S+", text[sp.start : sp.end])]
    per = max(1, int(len(words) * max_tokens / n * 0.9))
    out = []
    for i in range(0, len(words), per):
        a, b = sp.start + words[i][0], sp.start + words[min(i + per, len(words)) - 1][1]
        out.append((Span(a, b, sp.paragraph and i == 0), count_tokens(text[a:b])))
    return out
