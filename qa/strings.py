"""The words the assistant itself says around the articles' quotes, in the question's language.

One table: a key per phrase, a row per language, English as the fallback for a language or a phrase not in
it. The page, the Markdown export and the CLI take their words from here, so an Arabic question gets its
refusal and its "Searched for" in Arabic wherever it is read.
"""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "refusal": "The articles do not say.",
        "searched_for": "Searched for:",
    },
    "fr": {
        "refusal": "Les articles ne le disent pas.",
        "searched_for": "Recherché :",
    },
    "de": {
        "refusal": "Die Artikel sagen das nicht.",
        "searched_for": "Gesucht nach:",
    },
    "it": {
        "refusal": "Gli articoli non lo dicono.",
        "searched_for": "Cercato:",
    },
    "es": {
        "refusal": "Los artículos no lo dicen.",
        "searched_for": "Búsqueda:",
    },
    "sq": {
        "refusal": "Artikujt nuk e thonë këtë.",
        "searched_for": "U kërkua:",
    },
    "ar": {
        "refusal": "لا تذكر المقالات ذلك.",
        "searched_for": "تم البحث عن:",
    },
    "pt": {
        "refusal": "Os artigos não dizem isso.",
        "searched_for": "Pesquisado:",
    },
    "ru": {
        "refusal": "В статьях об этом не сказано.",
        "searched_for": "Искали:",
    },
}


def say(key: str, lang: str | None) -> str:
    """The phrase ``key`` in language ``lang`` (ISO 639-1), or in English when there is none."""
    return STRINGS.get(lang or "en", {}).get(key) or STRINGS["en"][key]
