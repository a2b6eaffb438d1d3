"""When staff want a broadcast to go out, as they type it: "24.12.2026 08:00", "2026-12-24 08:00",
"2026-12-24T08:00", "morgen 08:00" or "heute 18:30" (also "tomorrow", "today"), in the city's timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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
        return When(_local(day, clock, tz), text.strip()[match.end() :].strip())
    return None


def _local(day: date, clock: time, tz: tzinfo) -> datetime:
    """A wall-clock time in the city. On the night the clocks go back, the first of the two is meant;
    a time skipped when they go forward is moved past the gap, as a person would read it."""
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=tz, fold=0)
    # A time that does not exist does not survive the round trip through UTC (02:30 comes back as
    # 03:30, read with the offset from before the gap): that later reading is what a person means.
    return aware.astimezone(UTC).astimezone(tz)
