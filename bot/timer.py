"""The timer that wakes the service when something is due: APScheduler 3, in the city's timezone.

It holds one job in memory, "wake at the next due time", which it re-arms after every wake and whenever
a process announces a change to the schedule. What is due lives in Redis (broadcasts/scheduler.py); a
lost timer costs at most the upkeep interval, never a broadcast.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

JOB = "wake"
# Something due that a wake could not clear (Redis away, say) must not spin the loop: look again soon.
MIN_WAIT = timedelta(seconds=1)


class Timer:
    def __init__(
        self,
        tz: tzinfo,
        *,
        clock: Callable[[], datetime],
        wake: Callable[[], Awaitable[None]],
        next_due: Callable[[], Awaitable[datetime]],
    ) -> None:
        self._tz = tz
        self._clock = clock
        self._wake = wake
        self._next_due = next_due
        self._scheduler = AsyncIOScheduler(timezone=tz)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def next_wake(self) -> datetime | None:
        job = self._scheduler.get_job(JOB)
        return job.next_run_time if job is not None else None

    async def rearm(self) -> None:
        # The service's clock decides what is due (tests inject one); the timer only waits that long.
        wait = max(MIN_WAIT, await self._next_due() - self._clock())
        # However late the event loop gets to it, the wake still runs: Redis decides what is due.
        self._scheduler.add_job(
            self._fire,
            DateTrigger(run_date=datetime.now(self._tz) + wait),
            id=JOB,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    async def _fire(self) -> None:
        try:
            await self._wake()
        except Exception as exc:
            log.error("scheduled wake-up failed: %s", type(exc).__name__)
        finally:
            await self.rearm()
