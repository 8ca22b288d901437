"""qa/retrieve.py through ``Assistant.search``: cross-lingual retrieval on the bundled corpus, and bad input.

Each case is a question a journalist might ask in one language whose answer is only in an article written in
another (000 Arabic, 001 and 003 Albanian, 002 English, 004 Italian). The article must be in the top 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.load import load
from qa.errors import InputError
from qa.retrieve import MAX_K, MAX_QUESTION_CHARS
from qa.text import detect_language

ARTICLE_LANG = {"000": "ar", "001": "sq", "002": "en", "003": "sq", "004": "it"}


@dataclass(frozen=True)
class Case:
    lang: str
    gold: str  # file name prefix of the article that answers
    slug: str
    question: str


CASES = [
    Case(
        "en",
        "001",
        "paris-meeting",
        "Which city is hosting Thursday's meeting of European leaders and allies on support for Kyiv?",
    ),
    Case("en", "000", "baltic-cable", "What damaged the Russian telecommunications cable in the Baltic Sea?"),
    Case(
        "en",
        "004",
        "british-intel-deaths",
        "How many North Korean soldiers have died in the war, according to British defence intelligence?",
    ),
    Case("en", "001", "kim-visit", "Who in Moscow said a visit by Kim Jong Un to Russia is being prepared?"),
    Case("en", "003", "beijing-ties", "How did Beijing describe the growing ties between Moscow and Pyongyang?"),
    Case(
        "en",
        "003",
        "china-silence",
        "How did Ukraine's president react to China's stance on North Korean troops in Russia?",
    ),
    Case(
        "fr",
        "004",
        "engineers",
        "Combien d'ingénieurs militaires la Corée du Nord va-t-elle envoyer pour aider à la reconstruction ?",
    ),
    Case("fr", "003", "plaque", "Quelle plaque commémorative Lavrov et Choe ont-ils dévoilée à la gare de Moscou ?"),
    Case("fr", "002", "solomianskyi", "Que s'est-il passé dans le quartier Solomianskyi de Kiev ?"),
    Case(
        "fr",
        "000",
        "uk-peacekeepers",
        "Le Royaume-Uni pourrait-il envoyer des soldats en Ukraine en cas de cessez-le-feu ?",
    ),
    Case(
        "de", "000", "lammy", "Was sagte der britische Außenminister Lammy über die Aussichten auf Friedensgespräche?"
    ),
    Case("de", "004", "kellogg", "Wer soll laut Selenskyj nächste Woche als US-Gesandter nach Kiew reisen?"),
    Case(
        "de",
        "002",
        "g7-loans",
        "Wie viel Geld wollen die G7-Staaten der Ukraine aus eingefrorenen russischen Vermögen leihen?",
    ),
    Case("de", "003", "peking", "Was sagt Peking zu den engeren Beziehungen zwischen Russland und Nordkorea?"),
    Case(
        "de",
        "001",
        "kremlin-conditions",
        "Unter welchen Bedingungen will der Kreml die Waffenruhe im Schwarzen Meer umsetzen?",
    ),
    Case("it", "002", "dnipro", "Quante persone sono state uccise nell'attacco missilistico russo su Dnipro?"),
    Case(
        "it",
        "000",
        "nato-drones",
        "Con chi si è incontrato Zelensky per discutere delle armi a lungo raggio e dei droni?",
    ),
    Case(
        "it",
        "001",
        "paris-meeting",
        "Quando e dove si riuniranno i leader europei per parlare degli aiuti all'Ucraina?",
    ),
    Case("it", "001", "saudi-talks", "Cosa hanno concordato Russia e Ucraina nei colloqui in Arabia Saudita?"),
    Case("it", "003", "china", "Cosa ha detto la Cina sui legami sempre più stretti tra Russia e Corea del Nord?"),
    Case(
        "it",
        "000",
        "lammy",
        "Che cosa ha detto il ministro degli Esteri britannico sulla possibilità di colloqui di pace a breve?",
    ),
    Case("sq", "002", "g7-loans", "Sa para do të marrë Ukraina si hua nga G7 nga asetet e ngrira ruse?"),
    Case("sq", "002", "dnipro", "Sa njerëz u vranë në sulmin me raketa në Dnipro?"),
    Case("sq", "000", "baltic-cable", "Kush e dëmtoi kabllon e telekomunikacionit në Detin Baltik?"),
    Case("sq", "004", "wonsan", "Ku u takua Lavrovi me Kim Jong Un?"),
    Case(
        "sq",
        "004",
        "more-troops",
        "Kur mund të dërgojë Koreja e Veriut trupa shtesë, sipas inteligjencës së Koresë së Jugut?",
    ),
    Case("sq", "000", "geneva", "Çfarë tha Rusia për bisedimet e çarmatimit në Gjenevë?"),
    Case("ar", "004", "wonsan", "أين التقى لافروف بكيم جونغ أون؟"),
    Case("ar", "002", "g7-loans", "كم تبلغ قيمة القروض التي اتفقت عليها مجموعة السبع لأوكرانيا؟"),
    Case("ar", "003", "china", "ماذا قالت الصين عن العلاقات بين روسيا وكوريا الشمالية؟"),
    Case(
        "ar", "004", "engineers", "كم عدد المهندسين العسكريين الذين سترسلهم كوريا الشمالية للمساعدة في إعادة الإعمار؟"
    ),
    Case("ar", "001", "paris-meeting", "أين سيجتمع القادة الأوروبيون يوم الخميس لبحث المساعدات لأوكرانيا؟"),
    Case("ar", "002", "yermak", "ماذا قال أندريه يرماك عن نهاية الحرب؟"),
    Case("ar", "003", "blinken-kursk", "ما عدد الجنود الكوريين الشماليين الذين نُقلوا إلى منطقة كورسك بحسب بلينكن؟"),
    Case(
        "es",
        "003",
        "security-council",
        "¿Qué países pidieron una reunión del Consejo de Seguridad de la ONU tras el ensayo del misil intercontinental?",
    ),
    Case(
        "es",
        "004",
        "shoigu",
        "¿Quién, desde el Consejo de Seguridad ruso, ha viajado varias veces a Pyongyang este año?",
    ),
    Case("es", "000", "rostelecom", "¿Qué empresa estatal rusa está reparando el cable dañado en el mar Báltico?"),
    Case("es", "002", "sunday", "¿Cuándo podrían entrar en combate las tropas norcoreanas, según Zelenski?"),
    Case(
        "es",
        "001",
        "seoul-casualties",
        "¿Cuántos soldados norcoreanos han muerto o resultado heridos en combate según Seúl?",
    ),
]

# Misses of the current retriever (e5-small, sentence rerank, at most (k+1)//3 passages per article while
# others are left), kept as they are rather than reworded until they pass; strict, so a fix shows up.
KNOWN_MISSES = {
    "sq-geneva-000": "the Arabic Geneva sentence is long and mostly about the US administration: it ranks below 12 others",
    "de-kremlin-conditions-001": "flat scores (0.795-0.80): the conditions/sanctions sentence is barely matched",
}


def case_id(c: Case) -> str:
    return f"{c.lang}-{c.slug}-{c.gold}"


PARAMS = [
    pytest.param(
        c,
        id=case_id(c),
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[case_id(c)])] if case_id(c) in KNOWN_MISSES else [],
    )
    for c in CASES
]


def test_cases_are_cross_lingual_and_cover_the_languages():
    for c in CASES:
        assert ARTICLE_LANG[c.gold] not in (c.lang, detect_language(c.question, short=True)), c.question
    assert {c.lang for c in CASES} == {"en", "fr", "de", "it", "sq", "ar", "es"}
    assert set(KNOWN_MISSES) <= {case_id(c) for c in CASES} and len(CASES) - len(KNOWN_MISSES) >= 14


@pytest.mark.parametrize("case", PARAMS)
def test_question_finds_its_article_in_another_language_in_the_top_3(assistant, case):
    passages = assistant.search(case.question, k=3)
    found = [f"{p.source[:3]} {p.score:.3f}" for p in passages]
    assert case.gold in [p.source[:3] for p in passages], f"{case.gold} not in the top 3: {found}"


def test_the_readme_question_finds_the_albanian_article(assistant):
    passages = assistant.search("Where are European leaders meeting on Thursday to discuss aid for Ukraine?", k=3)
    assert "001_96afc80ec7606d8d.txt" in [p.source for p in passages]


def test_passages_carry_exact_offsets_and_article_metadata(assistant):
    passages = assistant.search("North Korean troops sent to Russia", k=MAX_K)
    assert len(passages) == assistant.store.count()  # fewer passages than k: all of them
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert all(-1.0 <= p.score <= 1.0 for p in passages)
    for p in passages:
        article = load(Path(p.path), 5_000_000)
        assert p.text == article.text[p.start : p.end]
        assert (p.source, p.title, p.date, p.lang) == (article.source, article.title, article.date, article.lang)
    by_source = {p.source[:3]: p for p in passages}
    assert by_source["002"].title.startswith("Ukraine War Update") and by_source["003"].date == "2024-11"


def test_k_limits_the_number_of_passages(assistant):
    assert len(assistant.search("Kim Jong Un", k=1)) == 1
    assert len(assistant.search("Kim Jong Un", k=4)) == 4


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "the question is empty"),
        (" \n\t ", "the question is empty"),
        ("?!… «»", "the question has no words in it"),
        ("Who " + "really " * 400 + "met Kim?", f"keep it under {MAX_QUESTION_CHARS:,}"),
        ("Where did Lavrov\x00 meet Kim?", "the question contains control characters"),
        ("Where did Lavrov meet Kim?\x1b[2J", "the question contains control characters"),
        ("Where did Lavrov meet Kim?\ud800", "unpaired surrogate characters"),
        (None, "the question must be text"),
        (42, "the question must be text"),
    ],
    ids=[
        "empty",
        "whitespace",
        "punctuation-only",
        "overlong",
        "nul",
        "escape-sequence",
        "surrogate",
        "none",
        "number",
    ],
)
def test_bad_questions_are_refused_with_a_clear_message(assistant, question, message):
    with pytest.raises(InputError, match=re.escape(message)):
        assistant.search(question)


def test_a_question_with_line_breaks_and_tabs_is_fine(assistant):
    assert assistant.search("Where did Lavrov\n\tmeet Kim Jong Un?", k=1)


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, 10**9, True, 2.5, "3", None])
def test_bad_k_is_refused_with_a_clear_message(assistant, k):
    with pytest.raises(InputError, match=f"k must be (a whole number )?from 1 to {MAX_K}"):
        assistant.search("Where did Lavrov meet Kim Jong Un?", k=k)


def test_the_sentence_two_overlapping_passages_share_is_a_candidate_once(assistant):
    """Passages overlap by a sentence: the selector's best few hold it once, and each passage keeps it."""
    question = "Quante persone sono morte nell'attacco missilistico russo di venerdì sera a Dnipro?"
    passages, ranked = assistant.retriever.evidence(question, k=5)
    spans = [
        (passages[s.n - 1].path, passages[s.n - 1].start + s.start, passages[s.n - 1].start + s.end) for s in ranked
    ]
    shared = [span for span in set(spans) if spans.count(span) > 1]
    assert shared, "the bundled articles' passages overlap, so some sentence is in two of them"
    firsts = spans[: len(set(spans))]
    assert len(set(firsts)) == len(firsts)  # every sentence once before any repeat
    assert set(firsts) == set(spans)
