"""Text facts every layer needs, in any language: sentences, the language of a text, language names, numbers.

At the bottom of the package: ingest splits articles with the same sentence rules that retrieval, answers
and citation checks use, so an offset found in one place means the same span everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import sentencex
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

# A leading "date 2024-11" line: the article's metadata, not its first words.
DATE_LINE = re.compile(r"^\s*(?:date|dated|published|datë|data|تاريخ)\s*[:\-]?\s*(\d{4}-\d{2}(?:-\d{2})?)\b", re.I)

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "es": "Spanish",
    "pt": "Portuguese",
    "nl": "Dutch",
    "sq": "Albanian",
    "ar": "Arabic",
    "ru": "Russian",
    "uk": "Ukrainian",
    "pl": "Polish",
    "tr": "Turkish",
    "el": "Greek",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "hi": "Hindi",
    "fa": "Persian",
    "he": "Hebrew",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "ro": "Romanian",
    "hu": "Hungarian",
    "cs": "Czech",
    "sr": "Serbian",
    "hr": "Croatian",
    "bg": "Bulgarian",
}


# Short questions are easily mistaken for rare languages; detection is limited to the languages named above.
QUESTION_LANGUAGES = tuple(LANGUAGE_NAMES)


def language_name(lang: str | None) -> str:
    return LANGUAGE_NAMES.get(lang or "", "the language of the question")


@lru_cache(maxsize=2)
def _identifier(restricted: bool) -> LanguageIdentifier:
    ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    if restricted:
        ident.set_languages(list(QUESTION_LANGUAGES))
    return ident


def detect_language(text: str, short: bool = False) -> str | None:
    """ISO 639-1 code of the text's main language (py3langid, offline), None when there are no letters.

    ``short`` (a question) limits the choice to common languages, where a few words are enough.
    """
    sample = text[:4000]
    if not re.search(r"[^\W\d_]", sample):
        return None
    return _identifier(short).classify(sample)[0]


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
        if (
            sentences
            and not para
            and "\n" not in text[sentences[-1][1] : s]
            and _ends_in_abbreviation(text[sentences[-1][0] : sentences[-1][1]], lang)
        ):
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
            spans.append(Span(piece_s, piece_e, para or bool(spans and "\n\n" in text[spans[-1].end : piece_s])))
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


# What a sentence ends with, in the scripts of the articles (Latin and Arabic full stops and question marks, CJK
# ones, an ellipsis), possibly inside closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?؟。！？…][\s\"'»”’)\]]*$")


def one_line(text: str) -> str:
    """The text with every run of whitespace (line breaks included) as one space, trimmed."""
    return " ".join(text.split())


def is_heading(sentence: str) -> bool:
    """Whether a line of an article does not end like a sentence: a headline, a subheading, a photo caption."""
    return not _SENTENCE_END.search(sentence.rstrip())


# --- numbers -----------------------------------------------------------------------------------------------

_NUM = re.compile(r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?![\d])|\d+(?:[.,]\d+)?")
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
NUMBER_WORDS = {
    # English, French, German, Italian, Spanish, Albanian: the small numbers a news answer spells out.
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "thirty": 30,
    "hundred": 100,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "fünf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    "elf": 11,
    "due": 2,
    "tre": 3,
    "quattro": 4,
    "cinque": 5,
    "sette": 7,
    "otto": 8,
    "nove": 9,
    "dieci": 10,
    "undici": 11,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "dy": 2,
    "tri": 3,
    "katër": 4,
    "pesë": 5,
    "gjashtë": 6,
    "shtatë": 7,
    "tetë": 8,
    "nëntë": 9,
    "dhjetë": 10,
}
THOUSANDS = {"thousand", "mille", "mila", "tausend", "mil", "mijë", "ألف", "آلاف"}


def normalize_numbers(text: str, words: bool = True) -> set[str]:
    """Every number in the text as a canonical string: group separators removed, decimals with a dot; with
    ``words``, also the small numbers spelt out ("three", "tre mijë")."""
    text = unicodedata.normalize("NFKC", text).translate(ARABIC_DIGITS)
    out: set[str] = set()
    for m in _NUM.finditer(text):
        raw = m.group(0)
        if re.fullmatch(r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+", raw):
            value = re.sub(r"\D", "", raw)
        else:
            value = raw.replace(",", ".")
        value = value.lstrip("0") or "0"
        following = text[m.end() : m.end() + 12].strip().lower()
        out.add(value)
        if any(following.startswith(w) for w in THOUSANDS) and "." not in value:
            out.add(str(int(value) * 1000))
    if not words:
        return out
    tokens = re.findall(r"[^\W\d_]+", text.lower())
    for i, w in enumerate(tokens):
        if w in NUMBER_WORDS:
            n = NUMBER_WORDS[w]
            if i + 1 < len(tokens) and tokens[i + 1] in THOUSANDS:
                n *= 1000
            out.add(str(n))
    return out


LABEL_CHARS = 70  # a label made from an article's lead is cut at the last word boundary before this


def lead_label(text: str) -> str | None:
    """A name for an article that has no title: the first words of its lead (after a leading date line), cut at
    a word boundary with "…" when shortened; None when the text has no words."""
    body = text.lstrip("\ufeff")
    if m := DATE_LINE.match(body[:200]):
        body = body[m.end() :]
    words = body.split()
    if not words:
        return None
    label = ""
    for w in words:
        if len(label) + len(w) + 1 > LABEL_CHARS and label:
            return label.rstrip(",;:–—-") + "…"
        label = f"{label} {w}".strip()
    return label
