"""Sentences, languages and numbers: the text facts every layer shares."""

from __future__ import annotations

import pytest

from qa.text import is_heading, normalize_numbers


@pytest.mark.parametrize(
    "text,value",
    [
        ("3,000", "3000"),
        ("3 000", "3000"),
        ("3.000", "3000"),
        ("3000", "3000"),
        ("٣٠٠٠", "3000"),
        ("11 mila", "11000"),
        ("three thousand", "3000"),
        ("2.5", "2.5"),
        ("10.000 trupa", "10000"),
    ],
)
def test_numbers_normalise_across_formats(text, value):
    assert value in normalize_numbers(text)


def test_spelt_out_numbers_can_be_left_out():
    text = "three people were killed and 12 injured"
    assert normalize_numbers(text) == {"3", "12"}
    assert normalize_numbers(text, words=False) == {"12"}


@pytest.mark.parametrize(
    "line,heading",
    [
        ("Këshilli i Sigurimit i OKB-së do të diskutojë testimin e raketës", True),
        ("Ministri i Jashtëm i SHBA, Antony Blinken Fotografi: Celal Gunes/Anadolu/picture alliance", True),
        ("SHBA: 10.000 ushtarë të Koresë së Veriut në Rusi", True),
        ("Three people were killed, the governor said.", False),
        ("«Non siamo a settimane dai colloqui di pace», ha detto Lammy.", False),
        ("Lammy said: “We are not weeks away from peace talks.”", False),
        ("هل ستنتهي الحرب قريبا؟", False),
        ("战争何时结束。", False),
        ("And then…", False),
    ],
)
def test_a_line_that_does_not_end_like_a_sentence_is_a_heading(line, heading):
    assert is_heading(line) is heading
