"""Relative times in a quote ("on Thursday", "last month", "this year"), with the dates they mean.

A news sentence says "on Thursday" and means the Thursday before the article was published; a reader of the
quote months later cannot tell which one. dateparser finds the time expressions in the quote (in the article's
language) and resolves them with the article's publication date as "now". An expression is kept only when it
is relative: resolved again from a base more than a year and a few days later, it must give another date
(absolute dates such as "21 November 2024" do not move, and neither do figures dateparser misreads as dates,
unless they are relative too; a bare number is never taken). The date is shown at the precision the words
state (a day, a month, a year) and never finer than the article's own date: "on Thursday" in an article
dated only "2024-11" is left alone.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from qa.filters import parse_iso, precision_of
from qa.types import TimeRef

log = logging.getLogger(__name__)

SHIFT = timedelta(days=400)  # a second base: another year, month and weekday
DAY, WEEK = timedelta(days=1), timedelta(days=7)
FINER = {"day": 0, "week": 0, "month": 1, "year": 2}  # dateparser's periods, finest first
SHOWN = {0: "%Y-%m-%d", 1: "%Y-%m", 2: "%Y"}
PRECISION_RANK = {"day": 0, "month": 1, "year": 2}


def relative_times(quote: str, published: str | None, lang: str | None) -> tuple[TimeRef, ...]:
    """The relative times of ``quote`` resolved from the article's date ``published`` (ISO at any precision)."""
    if not published or not re.search(r"[^\W\d_]", quote):
        return ()
    try:
        year, month, day = parse_iso(published)
    except ValueError:
        return ()
    base = datetime(year, month or 1, day or 1, 12)
    reader = Reader(lang, base)
    coarsest = PRECISION_RANK[precision_of(published)]
    out: list[TimeRef] = []
    pos = 0
    for found in reader.search(quote):
        start = quote.find(found, pos)
        if start < 0:
            continue
        pos = start + len(found)
        text = reader.tighten(found)
        start += found.index(text)
        parsed = reader.parse(text)
        if parsed is None or parsed[1] < coarsest or not reader.relative(text):
            continue
        if len(text.split()) == 1 and parsed[1] > 0:  # "may", "March", "a": a lone word is a day ("Thursday")
            continue
        out.append(TimeRef(text, start, start + len(text), parsed[0].strftime(SHOWN[parsed[1]])))
    return tuple(out)


def annotate(quote: str, times: tuple[TimeRef, ...]) -> str:
    """The quote with each resolved date after its words in square brackets, the convention for words added to a
    quotation: "on Thursday [2024-11-14]"."""
    out, pos = [], 0
    for t in sorted(times, key=lambda t: t.start):
        out += [quote[pos : t.end], f" [{t.date}]"]
        pos = t.end
    return "".join(out) + quote[pos:]


class Reader:
    """dateparser in one language (any, when ``lang`` is None), reading from ``base`` as "now"."""

    def __init__(self, lang: str | None, base: datetime) -> None:
        from dateparser.date import DateDataParser  # ~1 s to import: only when a dated quote is shown

        self.lang = lang
        self.base = base
        languages = [lang] if lang else None
        try:
            self._now, self._later, self._next_day = (
                DateDataParser(languages=languages, settings=_settings(b)) for b in (base, base + SHIFT, base + DAY)
            )
        except ValueError:  # a language dateparser does not know
            self.lang = None
            self._now, self._later, self._next_day = (
                DateDataParser(settings=_settings(b)) for b in (base, base + SHIFT, base + DAY)
            )

    def search(self, quote: str) -> list[str]:
        from dateparser.search import search_dates

        try:
            found = search_dates(quote, languages=[self.lang] if self.lang else None, settings=_settings(self.base))
        except (ValueError, KeyError, OverflowError) as e:
            log.debug("no times read in %r: %s", quote[:60], e)
            return []
        return [text for text, _ in found or []]

    def parse(self, text: str) -> tuple[datetime, int] | None:
        """The date ``text`` means and its period's rank (0 day or week, 1 month, 2 year), or None.

        A weekday named in an article of that weekday is the day it was published ("said on Sunday" on a Sunday):
        read as past, it would be a week earlier. Such a name is what means the publication day when read from the
        next day, and a week before it when read from that day ("last week" means six days before, then)."""
        try:
            data = self._now.get_date_data(text)
        except (ValueError, KeyError, OverflowError):
            return None
        if data.date_obj is None:
            return None
        date = data.date_obj
        if date.date() == (self.base - WEEK).date():
            tomorrow = _date(self._next_day, text)
            if tomorrow is not None and tomorrow.date() == self.base.date():
                date = self.base
        return date, FINER.get(data.period or "day", 0)

    def relative(self, text: str) -> bool:
        """Whether ``text`` means another date when "now" moves (absolute dates stay where they are)."""
        later = _date(self._later, text)
        now = self.parse(text)
        return now is not None and later is not None and later != now[0]

    def tighten(self, found: str) -> str:
        """The time expression without the neighbouring words dateparser took in with it: "on Thursday after a"
        -> "Thursday", "last month and 3" -> "last month". An edge word goes when the rest still reads as a date
        and the word is a figure or a short word ("a", "un" are read as January, the 1st); after such a word,
        also a word that means no date alone when the rest means the same date without it ("after", "and";
        but not the "ago" of "three days ago", which no stray word follows)."""
        words = found.split()
        loose = {0: False, -1: False}  # a stray word was cut from this side: its neighbour may be stray too
        while len(words) > 1:
            for side in (-1, 0):
                rest = words[:-1] if side == -1 else words[1:]
                kept = self.parse(" ".join(rest))
                if kept is None:
                    continue
                edge = words[side]
                if edge.isdigit() or len(edge) <= 2:
                    words, loose[side] = rest, True
                    break
                if loose[side] and self.parse(edge) is None and kept == self.parse(" ".join(words)):
                    words = rest
                    break
            else:
                break
        return " ".join(words)


def _date(parser: Any, text: str) -> datetime | None:
    """The date a dateparser ``DateDataParser`` reads ``text`` as (None: none, or text it cannot read)."""
    try:
        return parser.get_date_data(text).date_obj
    except (ValueError, KeyError, OverflowError):
        return None


def _settings(base: datetime) -> dict[str, Any]:
    # News tells of what happened before it was published: "Thursday" is the last one, not the next.
    return {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
