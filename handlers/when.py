"""When staff want a broadcast to go out, as they type it: "24.12.2026 08:00", "2026-12-24 08:00",
"2026-12-24T08:00", "morgen 08:00" or "heute 18:30" (also "tomorrow", "today"), in the city's timezone;
and repeating news: "täglich 18:00", "wöchentlich Mo 18:00" (also "daily", "weekly Mon").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from broadcasts.calendar import WEEKDAYS_DE, WEEKDAYS_EN, Recurrence, local

_CLOCK = r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:\s*uhr)?"
_PATTERNS = (
    re.compile(rf"^(?P<day>\d{{1,2}})\.(?P<month>\d{{1,2}})\.(?P<year>\d{{4}})\s+{_CLOCK}(?:\s+|$)", re.I),
    re.compile(
        rf"^(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})[T\s]{_CLOCK}(?::00)?(?:\s+|$)", re.I
    ),
    re.compile(
        rf"^(?P<relative>heute|today|morgen|tomorrow|übermorgen|uebermorgen)\s+{_CLOCK}(?:\s+|$)", re.I
    ),
)
_REPEATING = re.compile(
    rf"^(?P<rule>t(?:ä|ae)glich|daily|w(?:ö|oe)chentlich|weekly)(?:\s+(?P<weekday>[a-zäöü]+)\.?)?\s+{_CLOCK}"
    r"(?:\s+|$)",
    re.I,
)
_WEEKLY = frozenset({"wöchentlich", "woechentlich", "weekly"})
_OFFSETS = {"heute": 0, "today": 0, "morgen": 1, "tomorrow": 1, "übermorgen": 2, "uebermorgen": 2}


@dataclass(frozen=True, slots=True)
class When:
    at: datetime  # aware, in the city's timezone
    rest: str  # what followed the time: topic and text


def parse_when(text: str, now: datetime, tz: tzinfo) -> When | None:
    """The time at the start of `text`, or None when there is none or it does not exist."""
    for pattern in _PATTERNS:
        match = pattern.match(text.strip())
        if match is None:
            continue
        parts = match.groupdict()
        try:
            clock = time(int(parts["hour"]), int(parts["minute"]))
            if parts.get("relative"):
                day = now.astimezone(tz).date() + timedelta(days=_OFFSETS[parts["relative"].lower()])
            else:
                day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:  # 31.02., 25:00
            return None
        return When(local(day, clock, tz), text.strip()[match.end() :].strip())
    return None


@dataclass(frozen=True, slots=True)
class Repeating:
    rule: Recurrence
    rest: str


def parse_repeating(text: str) -> Repeating | None:
    """A repeating time at the start of `text`; None when there is none or it is malformed."""
    match = _REPEATING.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    weekly = parts["rule"].lower() in _WEEKLY
    weekday = _weekday(parts["weekday"]) if parts["weekday"] else None
    if weekly != (weekday is not None):  # "weekly" needs a day, "daily" takes none
        return None
    try:
        clock = time(int(parts["hour"]), int(parts["minute"]))
    except ValueError:
        return None
    return Repeating(Recurrence(clock, weekday), text.strip()[match.end() :].strip())


def _weekday(word: str) -> int | None:
    """Mo, Mon, Montag, Monday: the first two or three letters decide."""
    word = word.lower()
    for names in (WEEKDAYS_EN, WEEKDAYS_DE):
        for index, name in enumerate(names):
            if word.startswith(name) and len(word) >= 2:
                return index
    return None
