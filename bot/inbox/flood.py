"""Flood control per chat: a sliding window over when a chat's messages were written.

More than `messages` within `seconds` and the chat is flooding: the first message over the budget gets
one notice, the rest nothing, until a message finds the window back within the budget. Every arrival
counts, handled or not, so whoever keeps writing fast stays quiet. Kept in memory: a restart forgets it,
which costs at most one more notice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

from city.flood import Flood

# Chats whose last message left the window are forgotten every this many arrivals.
SWEEP_EVERY = 4096


class Verdict(Enum):
    HANDLE = "handle"
    NOTICE = "notice"  # over the budget for the first time: tell the chat once
    DROP = "drop"


class FloodGate:
    def __init__(self, budget: Callable[[], Flood]) -> None:
        self._budget = budget
        self._windows: dict[str, deque[float]] = {}
        self._flooding: set[str] = set()
        self._arrivals = 0

    @property
    def window_s(self) -> float:
        return self._budget().seconds

    def admit(self, chat: str, at: float) -> Verdict:
        """Count a message written at `at` (epoch seconds) in `chat`, and say what to do with it."""
        budget = self._budget()
        window = self._windows.get(chat)
        if window is None or window.maxlen != budget.messages + 1:  # new, or the city file changed
            window = self._windows[chat] = deque(window or (), maxlen=budget.messages + 1)
        window.append(at)
        while window and window[0] <= at - budget.seconds:
            window.popleft()
        self._arrivals += 1
        if self._arrivals % SWEEP_EVERY == 0:
            self._sweep(at, budget.seconds)
        if len(window) <= budget.messages:
            self._flooding.discard(chat)
            return Verdict.HANDLE
        if chat in self._flooding:
            return Verdict.DROP
        self._flooding.add(chat)
        return Verdict.NOTICE

    def _sweep(self, now: float, seconds: float) -> None:
        for chat in [c for c, w in self._windows.items() if not w or w[-1] <= now - seconds]:
            del self._windows[chat]
            self._flooding.discard(chat)
