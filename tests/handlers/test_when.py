"""Parsing the time staff type for a scheduled broadcast; pure, no clock but the one passed in."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.when import parse_when

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("typed", "expected", "rest"),
    [
        ("24.12.2026 08:00 verkehr Text", datetime(2026, 12, 24, 8, 0), "verkehr Text"),
        ("1.2.2027 7:05 kultur x", datetime(2027, 2, 1, 7, 5), "kultur x"),
        ("2026-12-24 08:00 verkehr Text", datetime(2026, 12, 24, 8, 0), "verkehr Text"),
        ("2026-12-24T08:00 verkehr", datetime(2026, 12, 24, 8, 0), "verkehr"),
        ("morgen 08:00 abfall Gelbe Säcke", datetime(2026, 11, 23, 8, 0), "abfall Gelbe Säcke"),
        ("tomorrow 8.30 Uhr kultur", datetime(2026, 11, 23, 8, 30), "kultur"),
        ("heute 18:30 kultur", datetime(2026, 11, 22, 18, 30), "kultur"),
        ("übermorgen 06:00 verkehr", datetime(2026, 11, 24, 6, 0), "verkehr"),
        # The clocks go forward at 02:00 on 28 March 2027: 02:30 does not exist and means 03:30.
        ("28.03.2027 02:30 verkehr", datetime(2027, 3, 28, 3, 30), "verkehr"),
        # They go back at 03:00 on 31 October 2027: 02:30 happens twice, the first is meant.
        ("31.10.2027 02:30 verkehr", datetime(2027, 10, 31, 2, 30), "verkehr"),
    ],
)
def test_times_staff_type(typed: str, expected: datetime, rest: str) -> None:
    when = parse_when(typed, NOW, BERLIN)
    assert when is not None
    assert when.at.replace(tzinfo=None) == expected
    assert when.rest == rest


def test_the_first_of_a_doubled_hour_is_summer_time() -> None:
    when = parse_when("31.10.2027 02:30 verkehr", NOW, BERLIN)
    assert when is not None
    assert when.at.utcoffset() is not None
    assert when.at.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "typed", ["31.02.2027 08:00 x", "24.12.2026 25:00 x", "nächste Woche", "", "24.12. 08:00 x"]
)
def test_nonsense_is_no_time(typed: str) -> None:
    assert parse_when(typed, NOW, BERLIN) is None
