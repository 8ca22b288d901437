"""ingest/chunk.py: sentence-aware passages with exact offsets, sized in the real e5 tokenizer's tokens."""

from __future__ import annotations

import re

import pytest

from ingest.chunk import MAX_TOKENS, chunk
from ingest.load import load
from qa.config import BUNDLED_ARTICLES
from qa.text import split_sentences
from qa.types import Article

BUNDLED = sorted(BUNDLED_ARTICLES.glob("*.txt"))


def article(text: str, lang: str, path: str = "/tmp/news/story.txt") -> Article:
    return Article(source=path.rsplit("/", 1)[-1], path=path, text=text, sha256="f" * 64, lang=lang)


def sentences(text: str, lang: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text, lang)]


@pytest.fixture(scope="module")
def chunked(embedder):
    """(article, passages) for each bundled article, chunked with the real token counter."""
    out = []
    for path in BUNDLED:
        a = load(path, 5_000_000)
        out.append((a, chunk(a, embedder.token_count)))
    return out


def test_passages_are_exact_spans_in_order(chunked):
    for a, passages in chunked:
        assert passages, a.source
        for p in passages:
            assert p.text == a.text[p.start : p.end] and p.text.strip() == p.text and p.text
        starts = [p.start for p in passages]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        assert all(not a.text[p.end : q.start].strip() for p, q in zip(passages, passages[1:]))  # no text left out


def test_every_sentence_is_in_a_passage(chunked):
    for a, passages in chunked:
        for s in split_sentences(a.text, a.lang):
            assert any(p.start <= s.start and s.end <= p.end for p in passages), a.text[s.start : s.end]


def test_passages_respect_the_token_bound(chunked, embedder):
    sizes = []
    for a, passages in chunked:
        for p in passages:
            n = embedder.token_count(p.text)
            sizes.append(n)
            assert n <= MAX_TOKENS or len(split_sentences(p.text, a.lang)) == 1, (a.source, p.start, n)
    assert sum(sizes) / len(sizes) >= 90  # not shredded into sentence-sized scraps


def test_neighbours_overlap_by_at_most_one_sentence(chunked):
    for a, passages in chunked:
        for p, q in zip(passages, passages[1:]):
            shared = a.text[q.start : min(p.end, q.end)]
            assert len(split_sentences(shared, a.lang)) <= 1, shared


def test_ids_are_stable_and_name_the_article_and_its_text(chunked, embedder):
    for a, passages in chunked:
        ids = [p.id for p in passages]
        assert len(set(ids)) == len(ids)
        assert all(a.sha256[:12] in i for i in ids)
        assert ids == [p.id for p in chunk(a, embedder.token_count)]
    all_ids = [p.id for _, ps in chunked for p in ps]
    assert len(set(all_ids)) == len(all_ids)


def test_metadata_is_carried_into_every_passage(chunked):
    a, passages = chunked[3]
    assert {(p.source, p.date, p.lang, p.title) for p in passages} == {(a.source, "2024-11", "sq", None)}


def test_a_headline_is_a_sentence_of_its_own(chunked):
    a, _ = chunked[2]
    first = sentences(a.text, a.lang)[0]
    assert first == a.title


@pytest.mark.parametrize(
    "lang, text, expected",
    [
        (
            "en",
            "The U.S. Secretary of State met Dr. Smith in Washington on Monday. Mr. Jones of the U.K. "
            "mission, Gen. Brown and Sen. White were also there. They discussed aid for Kyiv.",
            3,
        ),
        (
            "it",
            "Il sig. Rossi ha incontrato il dott. Bianchi e il prof. Verdi a Roma. Gli U.S.A. hanno mandato un "
            "inviato, ha detto il sen. Neri, cioè il relatore (pag. 3 del rapporto). La riunione è finita.",
            3,
        ),
        (
            "ar",
            "قال د. أحمد إن المحادثات ستستمر. وأضاف أ.د. محمد أن الحرب لن تنتهي قريبا؟ "
            "وكتب على ص.ب. 1234 في القاهرة: «لن نتراجع». ثم غادر الوفد!",
            4,
        ),
        (
            "sq",
            "Z. Rama tha se SHBA-të do të ndihmojnë, p.sh. me armë. Ajo foli me znj. Hoxha në Tiranë. "
            "A do të vijë paqja?",
            3,
        ),
    ],
)
def test_abbreviations_do_not_end_sentences(lang, text, expected):
    got = sentences(text, lang)
    assert len(got) == expected, got
    assert "".join(got).replace(" ", "") == text.replace(" ", "")


def test_arabic_question_and_exclamation_marks_end_sentences():
    text = "هل ستنتهي الحرب هذا العام؟ لا أحد يعرف! قال المسؤول ذلك."
    assert sentences(text, "ar") == ["هل ستنتهي الحرب هذا العام؟", "لا أحد يعرف!", "قال المسؤول ذلك."]


def test_an_overlong_sentence_is_cut_between_words(embedder):
    words = " ".join(f"delegation{i} from city{i % 37}" for i in range(300))
    text = f"Short opening sentence about the talks.\n\nThe list of participants included {words} and others.\n"
    a = article(text, "en")
    passages = chunk(a, embedder.token_count)
    assert len(passages) >= 4
    long_start = text.index("The list")
    covered = long_start
    for p in passages:
        assert p.text == text[p.start : p.end]
        assert p.start == 0 or text[p.start - 1].isspace()
        assert p.end == len(text) - 1 or text[p.end].isspace()
        assert embedder.token_count(p.text) <= MAX_TOKENS
        if p.end > long_start:
            assert not text[covered : p.start].strip()  # the pieces of the long sentence leave no word out
            covered = max(covered, p.end)
    assert covered == len(text.rstrip())


def test_whitespace_and_blank_lines_never_start_or_end_a_passage(embedder):
    text = "\n\n  First paragraph sentence one.  Sentence two.\n\n\n   Second paragraph here.   \n\n"
    passages = chunk(article(text, "en"), embedder.token_count)
    assert [p.text for p in passages] == ["First paragraph sentence one.  Sentence two.\n\n\n   Second paragraph here."]


def test_paragraphs_start_new_passages_once_one_is_half_full(embedder):
    para = " ".join(f"Officials in region {i} reported new shelling overnight near the front." for i in range(7))
    text = "\n\n".join([para, para.replace("Officials", "Residents"), para.replace("Officials", "Medics")])
    a = article(text, "en")
    passages = chunk(a, embedder.token_count)
    assert 100 < embedder.token_count(para) < 200  # each paragraph fills a passage more than half
    assert [p.start for p in passages] == [0, *(m.end() for m in re.finditer(r"\n\n", text))]


@pytest.mark.parametrize(
    "text,lang",
    [
        (" date 2024-11 Ministrja e Jashtme njoftoi gjatë një vizite në Moskë. Ajo tha më shumë.", "sq"),
        ("Published: 2025-03-02\nThe minister said so on Monday. He said more.", "en"),
    ],
)
def test_a_leading_date_marker_is_its_own_span_not_the_first_words_of_a_sentence(text, lang):
    got = sentences(text, lang)
    assert re.fullmatch(r"(?i)(date|published:) 20\d\d-\d\d(-\d\d)?", got[0])
    assert got[1].startswith(("Ministrja", "The minister"))
