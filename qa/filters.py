"""Which passages a search may return: by publication date, source and language, as one Chroma ``where``.

The filter goes into the vector query itself, so the ``k`` nearest passages are the nearest *among those that
match*; filtering after retrieval would return fewer than ``k`` (often none) when the match is rare.
Dates are stored by ingest as ``date_int`` = YYYYMMDD, a month or year mapped to its first day, so a range is
two integer comparisons. A passage without ``date_int`` (no date stated, or ingested before dates were
stored) never matches a date filter; :func:`undated_note` says how many were left out that way.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from qa.errors import InputError

_ISO = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_LANG = re.compile(r"[a-z]{2,3}")
PRECISIONS = ("day", "month", "year")


def parse_iso(text: str) -> tuple[int, int | None, int | None]:
    """``2024-11-21`` / ``2024-11`` / ``2024`` as (year, month, day); ``ValueError`` when it is no real date."""
    m = _ISO.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not YYYY-MM-DD, YYYY-MM or YYYY")
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    date(year, int(month or 1), int(day or 1))  # raises ValueError for month 13, February 30...
    return year, int(month) if month else None, int(day) if day else None


def precision_of(text: str) -> str:
    """``day``, ``month`` or ``year``: how much of the date an ISO string states."""
    _, month, day = parse_iso(text)
    return "day" if day else "month" if month else "year"


def day_number(text: str, last: bool = False) -> int:
    """YYYYMMDD of the period's first day (its last with ``last``): ``2024-11`` -> 20241101 or 20241130."""
    year, month, day = parse_iso(text)
    if month is None:
        month = 12 if last else 1
    if day is None:
        day = calendar.monthrange(year, month)[1] if last else 1
    return year * 10000 + month * 100 + day


@dataclass(frozen=True)
class Filters:
    """A search restricted to a date range (inclusive, any precision), some sources and some languages."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        since: str | None = None,
        until: str | None = None,
        sources: Iterable[str] | str | None = None,
        langs: Iterable[str] | str | None = None,
    ) -> Filters:
        """Checked filters, or an :class:`InputError` that says which value is wrong and how to write it."""
        for name, value in (("since", since), ("until", until)):
            if value is None:
                continue
            if not isinstance(value, str):
                raise InputError(f"{name} must be a date written as text, e.g. 2024-11-01, not {value!r}")
            try:
                parse_iso(value)
            except ValueError:
                raise InputError(
                    f"{name} {value!r} is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY (e.g. 2024-11-01)"
                ) from None
        if since and until and day_number(since) > day_number(until, last=True):
            raise InputError(f"since {since} is after until {until}; swap them or widen the range")
        srcs = _strings("source", sources)
        codes = tuple(c.lower() for c in _strings("lang", langs))
        for c in codes:
            if not _LANG.fullmatch(c):
                raise InputError(f"lang {c!r} is not a language code; use a code such as en, fr, ar or sq")
        return cls(since.strip() if since else None, until.strip() if until else None, srcs, codes)

    @property
    def dated(self) -> bool:
        return bool(self.since or self.until)

    def where(self) -> dict[str, Any] | None:
        """Chroma's ``where`` for these filters, or None when nothing is filtered."""
        conditions: list[dict[str, Any]] = []
        if self.since:
            conditions.append({"date_int": {"$gte": day_number(self.since)}})
        if self.until:
            conditions.append({"date_int": {"$lte": day_number(self.until, last=True)}})
        if self.sources:
            # A file's name, a page's URL, or a web site's host (every page of it).
            conditions.append({"$or": [{"source": {"$in": list(self.sources)}}, {"site": {"$in": list(self.sources)}}]})
        if self.langs:
            conditions.append({"lang": {"$in": list(self.langs)}})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _strings(name: str, values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"each {name} must be non-empty text, not {v!r}")
        out.append(v.strip())
    return tuple(out)


def undated_note(metadatas: Iterable[Mapping[str, Any]], filters: Filters) -> str | None:
    """Why a date filter may have left passages out: those stored without a date, counted (None when none)."""
    if not filters.dated:
        return None
    undated = old = total = 0
    for m in metadatas:
        total += 1
        if "date_int" not in m:
            undated += 1
            old += "ingested_at" not in m
    if not undated:
        return None
    note = f"the date filter left out {undated} of {total} passages that have no publication date"
    if old:
        note += (
            f" ({old} of them stored before dates were recorded: ingest their files into a new --store to date them)"
        )
    return note
