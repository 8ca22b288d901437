"""The words the assistant itself says around the articles' quotes, in the question's language.

One table: a key per phrase, a row per language, English as the fallback for a language or a phrase not in
it. The page, the Markdown export and the CLI take their words from here, so an Arabic question gets its
refusal and its "Searched for" in Arabic wherever it is read.
"""

from __future__ import annotations

# "uncertain" opens an answer whose first quote may not answer the question (``qa.answer.UNCERTAIN``).
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "other_figures": "Other sources give other figures:",
        "likely_right": "Likely right",
        "uncertain_badge": "Uncertain: this quote may not answer the question",
        "uncertain": "Uncertain:",
        "refusal": "The articles do not say.",
        "searched_for": "Searched for:",
    },
    "fr": {
        "other_figures": "D'autres sources donnent d'autres chiffres :",
        "likely_right": "Probablement juste",
        "uncertain_badge": "Incertain : cette citation ne répond peut-être pas à la question",
        "uncertain": "Incertain :",
        "refusal": "Les articles ne le disent pas.",
        "searched_for": "Recherché :",
    },
    "de": {
        "other_figures": "Andere Quellen nennen andere Zahlen:",
        "likely_right": "Wahrscheinlich richtig",
        "uncertain_badge": "Unsicher: dieses Zitat beantwortet die Frage vielleicht nicht",
        "uncertain": "Unsicher:",
        "refusal": "Die Artikel sagen das nicht.",
        "searched_for": "Gesucht nach:",
    },
    "it": {
        "other_figures": "Altre fonti danno altre cifre:",
        "likely_right": "Probabilmente giusto",
        "uncertain_badge": "Incerto: questa citazione potrebbe non rispondere alla domanda",
        "uncertain": "Incerto:",
        "refusal": "Gli articoli non lo dicono.",
        "searched_for": "Cercato:",
    },
    "es": {
        "other_figures": "Otras fuentes dan otras cifras:",
        "likely_right": "Probablemente correcto",
        "uncertain_badge": "Incierto: esta cita quizá no responda a la pregunta",
        "uncertain": "Incierto:",
        "refusal": "Los artículos no lo dicen.",
        "searched_for": "Búsqueda:",
    },
    "sq": {
        "other_figures": "Burime të tjera japin shifra të tjera:",
        "likely_right": "Ka gjasë të jetë e saktë",
        "uncertain_badge": "E pasigurt: ky citat mund të mos i përgjigjet pyetjes",
        "uncertain": "E pasigurt:",
        "refusal": "Artikujt nuk e thonë këtë.",
        "searched_for": "U kërkua:",
    },
    "ar": {
        "other_figures": "تذكر مصادر أخرى أرقامًا مختلفة:",
        "likely_right": "على الأرجح صحيح",
        "uncertain_badge": "غير مؤكد: قد لا يجيب هذا الاقتباس عن السؤال",
        "uncertain": "غير مؤكد:",
        "refusal": "لا تذكر المقالات ذلك.",
        "searched_for": "تم البحث عن:",
    },
    "pt": {
        "other_figures": "Outras fontes dão outros números:",
        "likely_right": "Provavelmente certo",
        "uncertain_badge": "Incerto: esta citação pode não responder à pergunta",
        "uncertain": "Incerto:",
        "refusal": "Os artigos não dizem isso.",
        "searched_for": "Pesquisado:",
    },
    "ru": {
        "other_figures": "Другие источники приводят другие цифры:",
        "likely_right": "Вероятно, верно",
        "uncertain_badge": "Не уверен: эта цитата может не отвечать на вопрос",
        "uncertain": "Не уверен:",
        "refusal": "В статьях об этом не сказано.",
        "searched_for": "Искали:",
    },
}


def say(key: str, lang: str | None) -> str:
    """The phrase ``key`` in language ``lang`` (ISO 639-1), or in English when there is none."""
    return STRINGS.get(lang or "en", {}).get(key) or STRINGS["en"][key]
