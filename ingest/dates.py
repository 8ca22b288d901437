"""An article's publication date, from whatever states one: the page's metadata, a ``date 2024-11`` line, a
dateline ("KYIV, Nov. 21, 2024 (Reuters) -", "PARIS, 21 novembre 2024 -").

A date keeps its precision (a "2024-11" line says the month, not the first of it) and where it came from, so a
reader can judge it; ``qa.filters.day_number`` maps it to the integer a date range is filtered on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from qa.filters import day_number, parse_iso, precision_of
from qa.text import DATE_LINE

# Where a date came from (stored as ``date_origin``).
HTML = "html-metadata"  # trafilatura/htmldate: <meta>, JSON-LD, <time>, the URL
DATE_LINE_ORIGIN = "date-line"  # a leading "date 2024-11" line
DATELINE = "dateline"  # "CITY, Month D, YYYY" at the start of the text
FEED = "feed"  # the entry's date in an RSS/Atom feed
EARLIEST_YEAR = 1900

MONTHS = {
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
    # French
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12,
    # German
    "januar": 1, "februar": 2, "märz": 3, "juni": 6, "juli": 7, "oktober": 10, "dezember": 12,
    # Italian
    "gennaio": 1, "febbraio": 2, "marzo": 3, "aprile": 4, "maggio": 5, "giugno": 6, "luglio": 7, "agosto": 8,
    "settembre": 9, "ottobre": 10, "dicembre": 12,
    # Spanish
    "enero": 1, "febrero": 2, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "septiembre": 9, "setiembre": 9,
    "octubre": 10, "noviembre": 11, "diciembre": 12,
    # Albanian
    "janar": 1, "shkurt": 2, "prill": 4, "maj": 5, "qershor": 6, "korrik": 7, "gusht": 8,
    "shtator": 9, "tetor": 10, "nëntor": 11, "dhjetor": 12,
}  # fmt: skip
_MONTH = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
# "CITY, " or "CITY (Agency) - " before the date; at most a few words, so a date deep in a sentence is not taken.
_PLACE = r"(?:[^\W\d_][\w .'’()/-]{0,40}?[,—–-]\s*)?"
_DAY_FIRST = re.compile(rf"^\s*{_PLACE}(\d{{1,2}})\.?\s+(?:de\s+)?({_MONTH})\.?\s+(?:de\s+)?(\d{{4}})\b", re.I)
_MONTH_FIRST = re.compile(rf"^\s*{_PLACE}({_MONTH})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b", re.I)
_ISO_START = re.compile(rf"^\s*{_PLACE}(\d{{4}}-\d{{2}}-\d{{2}})\b")


@dataclass(frozen=True)
class PubDate:
    """A publication date: ``iso`` at its ``precision`` (``2024-11-21``, ``2024-11``, ``2024``) and its origin."""

    iso: str
    precision: str
    origin: str

    @property
    def day_number(self) -> int:
        return day_number(self.iso)


def checked(iso: str | None, origin: str, today: date | None = None) -> PubDate | None:
    """A plausible date (a real one, from 1900 to tomorrow) from an ISO string, or None."""
    if not iso:
        return None
    iso = iso.strip()[:10]
    try:
        year, month, day = parse_iso(iso)
    except ValueError:
        return None
    limit = (today or date.today()).toordinal() + 1  # time zones: a page dated "tomorrow" is today somewhere
    if year < EARLIEST_YEAR or date(year, month or 1, day or 1).toordinal() > limit:
        return None
    return PubDate(iso, precision_of(iso), origin)


def date_line(text: str) -> PubDate | None:
    """A leading ``date 2024-11`` / ``published: 2024-11-21`` line (the bundled corpus's convention)."""
    m = DATE_LINE.match(text.lstrip("\ufeff")[:200])
    return checked(m.group(1), DATE_LINE_ORIGIN) if m else None


def dateline(text: str, today: date | None = None) -> PubDate | None:
    """A date at the start of one of the first two lines (after a headline), day precision."""
    lines = [line for line in text.lstrip("\ufeff")[:1000].split("\n") if line.strip()][:2]
    for line in lines:
        if m := _ISO_START.match(line):
            return checked(m.group(1), DATELINE, today)
        if m := _DAY_FIRST.match(line):
            day, month, year = m.group(1), m.group(2), m.group(3)
        elif m := _MONTH_FIRST.match(line):
            month, day, year = m.group(1), m.group(2), m.group(3)
        else:
            continue
        number = MONTHS.get(month.lower())
        if number:
            return checked(f"{int(year):04d}-{number:02d}-{int(day):02d}", DATELINE, today)
    return None


def find_date(
    text: str, html_date: str | None = None, today: date | None = None, feed_date: str | None = None
) -> PubDate | None:
    """The best-founded date: the page's metadata, the feed entry's, then a date line, then a dateline; None when
    none is stated."""
    return (
        checked(html_date, HTML, today) or checked(feed_date, FEED, today) or date_line(text) or dateline(text, today)
    )
