"""Syndicated copies: the same story republished under another URL or file name, with a new headline, a few
words changed or a paragraph added. A web page (a URL or a feed entry) that copies a stored article is not
stored again (its passages would crowd search results with the same sentences); it is recorded as a copy of
the article that is stored. Files are never dropped this way: a user who keeps two versions of a file means to.

Near-duplicates are found with MinHash over word 4-grams and an LSH index (datasketch), so a new article is
compared with every stored one in constant time. ``THRESHOLD`` is the estimated Jaccard similarity of the
4-gram sets; measured on ``tests/ingest/fixtures/copies`` (128 permutations): an edited copy (new headline,
three phrases changed, one paragraph added) 0.69 against its original; its French translation 0.00; another
story on the same subject 0.00; the bundled articles against each other 0.00. 0.5 lies between
with room both ways: a copy may change about a third of its word sequences and still count.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from ingest.state import read_json, write_json

SHINGLE_WORDS = 4
NUM_PERM = 128
THRESHOLD = 0.5
MIN_SHINGLES = 20  # a shorter text (a brief, a caption) is too small to call anything a copy of it


def shingles(text: str) -> set[bytes]:
    """The text's overlapping runs of ``SHINGLE_WORDS`` words, case-folded, punctuation ignored."""
    words = re.findall(r"\w+", text.casefold())
    return {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


def signature(text: str) -> MinHash | None:
    """The text's MinHash, or None when it is too short to judge."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    m = MinHash(num_perm=NUM_PERM, seed=1)
    m.update_batch(list(grams))
    return m


@dataclass(frozen=True)
class Copy:
    """``path`` is a copy of the stored ``original`` (estimated Jaccard ``similarity`` of their 4-grams)."""

    path: str
    original: str
    similarity: float

    def to_dict(self) -> dict:
        return {"path": self.path, "copy_of": self.original, "similarity": round(self.similarity, 3)}


class CopyFinder:
    """The stored articles' signatures in an LSH index; :meth:`copy_of` asks, :meth:`add` remembers."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._sigs: dict[str, MinHash] = {}

    @classmethod
    def of_store(cls, rows: Iterable[tuple[str, dict]], threshold: float = THRESHOLD) -> CopyFinder:
        """From the stored passages ``(text, metadata)``: each article's text is its passages in order (the
        one-sentence overlaps repeat a few 4-grams, which moves the estimate by little)."""
        parts: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for text, meta in rows:
            parts[meta["path"]].append((int(meta.get("chunk", 0)), text))
        finder = cls(threshold)
        for path, chunks in parts.items():
            finder.add(path, "\n".join(t for _, t in sorted(chunks)))
        return finder

    def add(self, path: str, text: str) -> None:
        sig = signature(text)
        if sig is None or path in self._sigs:
            return
        self._sigs[path] = sig
        self._lsh.insert(path, sig)

    def copy_of(self, path: str, text: str) -> Copy | None:
        """The most similar other stored article, when ``text`` is a copy of it."""
        sig = signature(text)
        if sig is None:
            return None
        found = [(sig.jaccard(self._sigs[p]), p) for p in self._lsh.query(sig) if p != path]
        found = [(j, p) for j, p in found if j >= self.threshold]
        if not found:
            return None
        similarity, original = max(found)
        return Copy(path, original, similarity)


class CopyLog:
    """Which paths and URLs are copies of each stored article, in a JSON file beside the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.copies: dict[str, list[str]] = read_json(path)

    def record(self, copy: Copy) -> None:
        known = self.copies.setdefault(copy.original, [])
        if copy.path not in known:
            known.append(copy.path)

    def save(self) -> None:
        write_json(self.path, self.copies)
