"""Virtual time for a whole running service: every injected sleep waits for the clock to reach its end,
and the test moves the clock to the earliest end once the service has done what needs no time.

Unlike `Sleeps` (tests/bot/conftest.py), which moves the clock by each sleep as it is asked for,
sleepers here wake in the order of their deadlines, as in real time: a sender that reserved a slot
for t sends at t exactly, and a stand-in on the same clock sees the pacing the service meant.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from datetime import timedelta

from tests.conftest import ManualClock

# Loopback round trips (Redis, the stand-ins) end within this; the loop counts as settled once nothing
# new went to sleep or woke over `QUIET_ROUNDS` such pauses. Real waiting for I/O, not for time.
SETTLE_S = 0.002
QUIET_ROUNDS = 3


class VirtualTime:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._events = 0

    def now(self) -> float:
        return self.clock().timestamp()

    async def sleep(self, seconds: float) -> None:
        """The service's sleep: returns once the test moved the clock `seconds` on."""
        self._events += 1
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now() + seconds, next(self._order), future))
        await future

    async def settle(self) -> None:
        quiet, seen = 0, -1
        while quiet < QUIET_ROUNDS:
            await asyncio.sleep(SETTLE_S)
            quiet, seen = (quiet + 1, seen) if self._events == seen else (0, self._events)

    async def settle_until(self, condition: Callable[[], bool], *, rounds: int = 500) -> None:
        """Let the service work without moving the clock until `condition` holds: for what it does in
        real time (a planner streaming an audience, a sender looking for new work)."""
        for _ in range(rounds):
            if condition():
                return
            await asyncio.sleep(SETTLE_S)
        raise AssertionError("the service did not get there without time moving on")

    async def step(self) -> None:
        """Let the service settle, then move the clock to the next deadline and wake who waits for it."""
        await self.settle()
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled (a loop stopping)
        if not self._sleepers:
            return
        deadline = self._sleepers[0][0]
        if deadline > self.now():
            # The clock counts whole microseconds: up to the one the deadline falls in.
            self.clock.advance(microseconds=math.ceil((deadline - self.now()) * 1e6))
        while self._sleepers and self._sleepers[0][0] <= self.now() + 1e-6:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                self._events += 1
                future.set_result(None)

    async def run_until(self, condition: Callable[[], bool], *, seconds: float, what: str = "") -> None:
        """Step until `condition` holds; fails after `seconds` of virtual time."""
        end = self.clock() + timedelta(seconds=seconds)
        while not condition():
            if self.clock() > end:
                raise AssertionError(f"not within {seconds} s of virtual time: {what}")
            await self.step()
