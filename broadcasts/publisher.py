"""Publishing: a broadcast that is approved and due goes into its topics' timeline and out, unless it
is ordinary news inside the quiet hours, which waits for their end. Alerts never wait.

Every step names the state it expects to move from, so that several processes deciding about the same
broadcast at once move it exactly once. Every step towards residents checks again, with the city file
as it stands, that the broadcast may go (broadcasts/approval.py `may_send`), and moves only the version
that was approved (NotApproved otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from city.config import City
from city.connection import RedisClient
from city.keys import Keys

from broadcasts import approval
from broadcasts.calendar import quiet_until
from broadcasts.engine import Engine
from broadcasts.model import Broadcast, Hold, Priority, State
from broadcasts.timeline import Timeline


class Refused(Exception):
    """The broadcast may not go out now (a role is gone, or it is not the approved version)."""

    def __init__(self, verdict: approval.Verdict) -> None:
        super().__init__(verdict.refusal.value if verdict.refusal else "refused")
        self.verdict = verdict


class Publisher:
    def __init__(
        self,
        *,
        redis: RedisClient,
        keys: Keys,
        engine: Engine,
        timeline: Timeline,
        city: Callable[[], City],
        on_schedule: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._on_schedule = on_schedule
        self._redis = redis
        self._keys = keys
        self._engine = engine
        self.timeline = timeline
        self._city = city

    def quiet_until(self, moment: datetime) -> datetime | None:
        """The end of the quiet hours that `moment` falls into, or None."""
        city = self._city()
        return quiet_until(moment, city.quiet_hours.start, city.quiet_hours.end, city.tz)

    async def publish(self, broadcast: Broadcast, now: datetime, *, expect: State) -> Broadcast:
        """Out now, or held until the quiet hours end. Raises InvalidTransition when another process
        (or a cancel) moved the broadcast first, Refused when it may not go."""
        self._check(broadcast)
        # A correction or retraction is no item of its own (the original reads as corrected), and it
        # never waits: a wrong message is out already.
        if broadcast.priority is not Priority.DIGEST and broadcast.amends is None:
            topics = approval.topics_of(self._city(), broadcast.topics)
            await self.timeline.record(broadcast, sorted(topics), now)
        until = self.quiet_until(now)
        if broadcast.priority is Priority.NEWS and until is not None and broadcast.amends is None:
            return await self.hold(broadcast, until, Hold.QUIET, expect=expect)
        await self._engine.enqueue(broadcast.id, expect=expect)
        return replace(broadcast, state=State.SENDING)

    async def hold(self, broadcast: Broadcast, until: datetime, reason: Hold, *, expect: State) -> Broadcast:
        """Held: until the quiet hours end (indexed, released then), or missed (waits for staff)."""
        if reason is Hold.QUIET:
            await self._index(broadcast.id, until)
        fields = {"held": reason.value, "scheduled_for": until.isoformat()}
        await self._engine.store.transition(
            broadcast.id, State.HELD, expect=expect, fields=fields, bound=True
        )
        return replace(broadcast, state=State.HELD, held=reason, scheduled_for=until)

    async def plan(self, broadcast: Broadcast, due: datetime, *, expect: State) -> Broadcast:
        """Wait for `due`: indexed first, so that a crash leaves at most an index entry to tidy."""
        self._check(broadcast)
        await self._index(broadcast.id, due)
        fields = {"scheduled_for": due.isoformat()}
        await self._engine.store.transition(
            broadcast.id, State.SCHEDULED, expect=expect, fields=fields, bound=True
        )
        return replace(broadcast, state=State.SCHEDULED, scheduled_for=due)

    async def release(self, broadcast: Broadcast, now: datetime) -> Broadcast:
        """A held broadcast goes out now (the quiet hours ended, or staff sent a missed one)."""
        self._check(broadcast)
        if broadcast.priority is not Priority.DIGEST:  # a missed one was never published
            topics = approval.topics_of(self._city(), broadcast.topics)
            await self.timeline.record(broadcast, sorted(topics), now)
        await self._engine.enqueue(broadcast.id, expect=State.HELD)
        await self.forget(broadcast.id)
        return replace(broadcast, state=State.SENDING)

    def _check(self, broadcast: Broadcast) -> None:
        verdict = approval.may_send(self._city(), broadcast)
        if not verdict.allowed:
            raise Refused(verdict)

    async def complete(self, broadcast_id: str) -> None:
        await self._engine.complete(broadcast_id)

    async def reschedule(self, broadcast_id: str, due: datetime, following: datetime) -> None:
        """Repeating news moves on to its next time, once, however many processes saw it due."""
        await self._engine.store.reschedule(broadcast_id, due, following)
        current = await self._engine.store.get(broadcast_id)
        if current is not None and current.state is State.SCHEDULED and current.scheduled_for:
            await self._index(broadcast_id, current.scheduled_for)

    async def plan_again(self, broadcast_id: str, due: datetime) -> None:
        """Put a scheduled broadcast back in the index at its own time (an index entry was stale)."""
        await self._index(broadcast_id, due)

    async def forget(self, broadcast_id: str) -> None:
        await self._redis.zrem(self._keys.schedule(), broadcast_id)

    async def _index(self, broadcast_id: str, due: datetime) -> None:
        await self._redis.zadd(self._keys.schedule(), {broadcast_id: due.timestamp()})
        if self._on_schedule is not None:
            await self._on_schedule()
