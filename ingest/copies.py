"""Syndicated copies: the same story republished under another URL or file name, with a new headline, a few
words changed or a paragraph added. A web page (a URL or a feed entry) that copies a stored article is not
stored again (its passages would crowd search results with the same sentences); it is recorded as a copy of
the article that is stored (``ingest.sync`` keeps the list in the article's metadata). When the copy states an
earlier publication date than a stored web page, the two change places: answers cite the earliest publication
and list the others. Files are never dropped this way: a user who keeps two versions of a file means to.

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

from datasketch import MinHash, MinHashLSH

from ingest.fetch import is_url
from qa.filters import day_number
from qa.store import Store
from qa.types import Article, Reprint, reprints_from_metadata, reprints_to_metadata

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
    replaced: bool = False  # ``path`` was the stored article: ``original``, published earlier, took its place

    def to_dict(self) -> dict:
        out = {"path": self.path, "copy_of": self.original, "similarity": round(self.similarity, 3)}
        return {**out, "replaced": True} if self.replaced else out


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

    def remove(self, path: str) -> None:
        if self._sigs.pop(path, None) is not None:
            self._lsh.remove(path)

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


class Folder:
    """One ingest run's copies: which web pages are copies of which kept article, and which stored pages an
    earlier publication of the same story replaces. :meth:`fold` decides per article as it is read;
    :meth:`apply` writes the copy lists into the kept articles' metadata once their passages are stored."""

    def __init__(self, finder: CopyFinder, stored_meta: dict[str, dict]) -> None:
        self.finder = finder
        self.stored_meta = stored_meta  # stored article path -> one of its passages' metadata
        self.read: dict[str, Article] = {}  # articles of this run kept so far
        self.copies: dict[str, list[Reprint]] = {}  # kept article path -> copies found in this run
        self.replaced: list[str] = []  # stored pages to delete once their earlier publication is written

    def fold(self, article: Article) -> Copy | None:
        """None when ``article`` is kept as it is. Otherwise the copy found: ``copy.path`` is the page not (or no
        longer) kept, ``copy.original`` the one kept, which is ``article`` itself when it replaced a later page."""
        found = self.finder.copy_of(article.path, article.text) if is_url(article.path) else None
        if found is None:
            self.finder.add(article.path, article.text)
            self.read[article.path] = article
            return None
        original = found.original
        date, site = self._date_and_site(original)
        if not (is_url(original) and _earlier(article.date, date)):
            self.copies.setdefault(original, []).append(Reprint(article.path, article.date, article.site))
            return found
        # The copy is the earlier publication: it is kept, and the page it copies becomes its copy.
        self.finder.remove(original)
        self.finder.add(article.path, article.text)
        moved = list(reprints_from_metadata(self.stored_meta.get(original, {}).get("copies")))
        moved += self.copies.pop(original, []) + [Reprint(original, date, site)]
        self.copies[article.path] = moved
        if self.read.pop(original, None) is None:
            self.replaced.append(original)
        self.read[article.path] = article
        return Copy(original, article.path, found.similarity, replaced=True)

    def apply(self, store: Store) -> None:
        """Record the copies in the kept articles' metadata, then delete the pages that were replaced."""
        for path, found in self.copies.items():
            ids = store.ids(path=path)
            if not ids:
                continue
            known = {r.source: r for r in reprints_from_metadata(self.stored_meta.get(path, {}).get("copies"))}
            known.update((r.source, r) for r in found if r.source != path)
            store.annotate(ids, {"copies": reprints_to_metadata(list(known.values()))})
        for path in self.replaced:
            store.delete(store.ids(path=path))

    def _date_and_site(self, path: str) -> tuple[str | None, str | None]:
        if path in self.read:
            return self.read[path].date, self.read[path].site
        meta = self.stored_meta.get(path, {})
        return meta.get("date"), meta.get("site")


def _earlier(date: str | None, than: str | None) -> bool:
    """Whether ``date`` is surely before ``than`` (each at its own precision: 2024 is not before 2024-11-20)."""
    return bool(date and than) and day_number(date, last=True) < day_number(than)  # type: ignore[arg-type]
