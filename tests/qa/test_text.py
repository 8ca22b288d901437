"""Sentences, languages and numbers: the text facts every layer shares."""

from __future__ import annotations

import pytest

from qa.text import normalize_numbers


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
