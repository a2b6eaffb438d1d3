"""The flood gate's arithmetic: pure, over message times."""

from __future__ import annotations

import pytest

from bot.inbox.flood import FloodGate, Verdict
from city.flood import Flood

H, N, D = Verdict.HANDLE, Verdict.NOTICE, Verdict.DROP


THREE_IN_TEN = Flood(messages=3, seconds=10)


def verdicts(times: list[float]) -> list[Verdict]:
    gate = FloodGate(lambda: THREE_IN_TEN)
    return [gate.admit("chat", at) for at in times]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0, 1, 2], [H, H, H]),  # within the budget
        ([0, 1, 2, 3], [H, H, H, N]),  # one over: one notice
        ([0, 0, 0, 0, 0, 0], [H, H, H, N, D, D]),  # then silence
        ([0, 1, 2, 10.5, 11, 12], [H, H, H, H, H, H]),  # spread out: never over
        ([0, 1, 2, 3, 4, 20, 21], [H, H, H, N, D, H, H]),  # calmed down: answered again
        ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [H, H, H, N] + [D] * 8),  # a steady flooder stays quiet
        ([0, 1, 2, 3, 25, 26, 27, 28], [H, H, H, N, H, H, H, N]),  # a second flood gets a second notice
    ],
)
def test_the_budget_counts_every_message_within_the_window(
    times: list[float], expected: list[Verdict]
) -> None:
    assert verdicts(times) == expected


def test_chats_are_counted_apart() -> None:
    gate = FloodGate(lambda: Flood(messages=1, seconds=10))
    assert [gate.admit(chat, 0) for chat in ("a", "b", "a", "b")] == [H, H, N, N]


def test_a_reloaded_budget_applies_at_once() -> None:
    budget = Flood(messages=1, seconds=10)
    gate = FloodGate(lambda: budget)
    assert [gate.admit("chat", at) for at in (0, 1)] == [H, N]
    budget = Flood(messages=5, seconds=10)
    assert gate.admit("chat", 2) is H
