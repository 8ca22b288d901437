"""The checks that keep the model's words faithful: a copy must be in the quote, a translation must mean it."""

from __future__ import annotations

import pytest

from qa.phrase import answers_something, copied, keeps_facts, needs_translation, span_grammar, states_figure

QUOTE = "All’inizio di sabato, Lavrov ha incontrato la sua controparte nordcoreana Choe Son Hui a Wonsan."


@pytest.fixture(scope="module")
def similarity(embedder):
    def cosine(a: str, b: str) -> float:
        va, vb = embedder.passages([a, b])
        return float(va @ vb)

    return cosine


@pytest.mark.parametrize(
    "draft,span",
    [
        ("a Wonsan", "a Wonsan"),
        ("  «choe son hui»  ", "Choe Son Hui"),
        ("Wonsan.\nThe city is on the coast.", "Wonsan"),
        ("in Pyongyang", None),
        ("Lavrov met Choe", None),
        ("", None),
        ("[1]", None),
    ],
)
def test_a_copy_must_stand_word_for_word_in_the_quote(draft, span):
    assert copied(draft, QUOTE) == span


def test_a_copy_that_is_the_quote_or_the_question_answers_nothing():
    assert answers_something("Wonsan", QUOTE, "Where did Lavrov meet Choe?")
    assert not answers_something("Lavrov", QUOTE, "Where did Lavrov meet Choe?")
    assert not answers_something(QUOTE.rstrip("."), QUOTE, "Where did Lavrov meet Choe?")


@pytest.mark.parametrize(
    "span,question,needed",
    [
        ("Andrey Rudenko", "Welcher Vize-Außenminister kündigte den Besuch an?", False),
        ("11000", "How many troops were sent?", False),
        ("Wonsan", "أين التقى لافروف بنظيرته؟", True),
        ("aprile", "Seit wann bestätigen Moskau und Pjöngjang das?", True),
    ],
)
def test_names_and_figures_need_no_translation_into_latin_script(span, question, needed):
    assert needs_translation(span, question) is needed


@pytest.mark.parametrize(
    "span,translation",
    [("aprile", "April"), ("Wonsan", "ونسان"), ("scorso novembre", "novembre dernier"), ("11000", "11,000")],
)
def test_faithful_translations_are_kept(similarity, span, translation):
    assert keeps_facts(translation, span, similarity)


@pytest.mark.parametrize(
    "span,translation",
    [
        ("Wonsan", "الأسكندرية"),  # another city
        ("Ministrja e Jashtme e Koresë", "Minister of Justice of Kosovo"),  # another ministry, another country
        ("Solomianskyi", "Solomanoskyi"),  # a name misspelt
        ("11000", "10,000"),  # another figure
        ("Wonsan", "Wonsan, a resort city on the east coast of North Korea, known for its beaches"),  # added facts
        ("Wonsan", ""),
    ],
)
def test_translations_that_change_a_fact_are_dropped(similarity, span, translation):
    assert not keeps_facts(translation, span, similarity)


def test_the_grammar_allows_runs_of_the_quote_s_words_only():
    grammar = span_grammar('Kim said "we will win" in 2024.', max_words=3)
    assert grammar.startswith("root ::= ")
    alternatives = grammar.removeprefix("root ::= ").split(" | ")
    assert '"Kim said \\"we"' in alternatives and '"2024"' in alternatives and '"in 2024"' in alternatives
    assert not any('Kim said \\"we will' in a for a in alternatives)  # at most 3 words
    assert all(a.startswith('"') and a.endswith('"') for a in alternatives)


def test_figures_need_no_translation_in_any_script():
    assert not needs_translation("3,000", "كم عدد الجنود؟")


@pytest.mark.parametrize(
    ("text", "question", "figure"),
    [
        ("Korea e Veriut ka dërguar të paktën 3,000 ushtarë", "How many more soldiers were sent?", True),
        ("in 2024", "When was the treaty signed?", True),
        ("حوالي 11000 جندي", "كم عدد الجنود؟", True),
        # a spelt-out number is mostly a determiner: "the two countries" says nothing about soldiers
        ("i due paesi hanno confermato lo schieramento", "¿Cuántos soldados hay en Kursk?", False),
        ("three people were killed", "How many people died?", False),
        # a figure the question already gives answers nothing
        (
            "lo Stato maggiore ha stimato 11.000 soldati",
            "Quelle instance a avancé le chiffre de 11 000 soldats ?",
            False,
        ),
        ("Lavrov ha incontrato Choe", "Whom did Lavrov meet?", False),
    ],
)
def test_an_answer_line_needs_a_figure_in_digits_the_question_does_not_give(text, question, figure):
    assert states_figure(text, question) is figure
