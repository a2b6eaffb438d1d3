"""Wall-clock times in the city, safe across daylight saving changes.

Everything stadtfunk schedules is meant in local time ("07:00", "Mo 18:00"), but stored and compared
in UTC. The two nights a year when the clocks change decide the rules here: a local time that occurs
twice means the first one, and a time skipped when the clocks go forward moves past the gap, as a
person reading a clock would take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

WEEKDAYS_DE = ("mo", "di", "mi", "do", "fr", "sa", "so")
WEEKDAYS_EN = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local(day: date, clock: time, tz: tzinfo) -> datetime:
    """The moment `clock` shows on `day` in the city, as an aware datetime in the city's zone."""
    aware = datetime.combine(day, clock).replace(tzinfo=tz, fold=0)
    # A time that does not exist does not survive the round trip through UTC (02:30 comes back as
    # 03:30, read with the offset from before the gap): that later reading is what a person means.
    return aware.astimezone(UTC).astimezone(tz)


def quiet_until(now: datetime, start: time, end: time, tz: tzinfo) -> datetime | None:
    """When the quiet hours around `now` end, or None outside them. Quiet hours may span midnight."""
    if start == end:
        return None
    today = now.astimezone(tz).date()
    for day in (today - timedelta(days=1), today):
        begins = local(day, start, tz)
        ends = local(day if end > start else day + timedelta(days=1), end, tz)
        if begins <= now < ends:
            return ends
    return None


@dataclass(frozen=True, slots=True)
class Recurrence:
    """News that repeats: every day, or every week on one weekday, at a local time."""

    clock: time
    weekday: int | None = None  # Monday is 0; None is every day

    def encode(self) -> str:
        return f"{'daily' if self.weekday is None else f'weekly:{self.weekday}'}@{self.clock:%H:%M}"

    @classmethod
    def decode(cls, value: str) -> Recurrence:
        rule, _, clock = value.partition("@")
        hour, minute = (int(part) for part in clock.split(":"))
        weekday = None if rule == "daily" else int(rule.removeprefix("weekly:"))
        return cls(time(hour, minute), weekday)

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime:
        """The first occurrence strictly after `moment`."""
        day = moment.astimezone(tz).date()
        for offset in range(9):
            candidate_day = day + timedelta(days=offset)
            if self.weekday is not None and candidate_day.weekday() != self.weekday:
                continue
            candidate = local(candidate_day, self.clock, tz)
            if candidate > moment:
                return candidate
        raise AssertionError("a weekly rule always has an occurrence within 8 days")
