"""What is due now: scheduled and repeating news, news held through the quiet hours, daily digests.

Redis is the truth: the schedule index, the broadcasts' states and the digest record. Whatever wakes
the service (the APScheduler timer in bot/timer.py, the upkeep loop, a start) calls `run_due`; any
number of processes may do so at once, because every decision is an atomic state change that only
one of them wins. Something due longer ago than the city's grace (the service was down) is not sent
late without a person deciding: it is held, and its author or the admins are told.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import cast

from city.config import City
from city.connection import RedisClient
from city.keys import Keys

from broadcasts import approval
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.calendar import Recurrence, local
from broadcasts.model import (
    ALL_TOPICS,
    SYSTEM,
    Broadcast,
    Hold,
    InvalidTransition,
    NotApproved,
    Priority,
    State,
)
from broadcasts.notice import Notice
from broadcasts.publisher import Publisher, Refused
from broadcasts.store import BroadcastStore
from broadcasts.version import short

log = logging.getLogger(__name__)

DIGEST_PREFIX = "digest-"
# A service down for months catches up on one digest, not on every day it missed.
MAX_CATCH_UP_DAYS = 31


class Scheduler:
    def __init__(
        self,
        *,
        redis: RedisClient,
        keys: Keys,
        store: BroadcastStore,
        publisher: Publisher,
        audit: AuditLog,
        city: Callable[[], City],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._city = city

    async def next_due(self, now: datetime) -> datetime:
        """When something is next due: the earliest indexed time or the next digest."""
        city = self._city()
        day = now.astimezone(city.tz).date()
        digest = local(day, city.digest_time, city.tz)
        if digest <= now:
            digest = local(day + timedelta(days=1), city.digest_time, city.tz)
        first = await self._redis.zrange(self._keys.schedule(), 0, 0, withscores=True)
        if first:
            indexed = datetime.fromtimestamp(float(first[0][1]), now.tzinfo)
            return min(indexed, digest)
        return digest

    async def run_due(self, now: datetime) -> list[Notice]:
        notices: list[Notice] = []
        due = await self._redis.zrangebyscore(self._keys.schedule(), "-inf", now.timestamp(), withscores=True)
        for member, score in cast(list[tuple[str, float]], due):
            broadcast = await self._store.get(str(member))
            at = datetime.fromtimestamp(float(score), now.tzinfo)
            # InvalidTransition: another process decided first, or it was cancelled; nothing to do here.
            with contextlib.suppress(InvalidTransition):
                try:
                    notices += await self._due(broadcast, at, now) if broadcast else []
                except Refused as refused:
                    notices += await self._withdraw(broadcast, refused.verdict.refusal, now)
                except NotApproved:
                    notices += await self._withdraw(broadcast, approval.Refusal.NOT_APPROVED, now)
            if broadcast is None or not await self._waiting(broadcast.id):
                await self._publisher.forget(str(member))
        notices += await self._digests(now)
        return notices

    async def _due(self, broadcast: Broadcast, due: datetime, now: datetime) -> list[Notice]:
        grace = timedelta(minutes=self._city().schedule_grace_minutes)
        if broadcast.state is State.SCHEDULED and broadcast.scheduled_for is not None:
            due = broadcast.scheduled_for  # the broadcast is the truth; the index only woke us
            if due > now:
                await self._publisher.plan_again(broadcast.id, due)
                return []
        match broadcast.state:
            case State.HELD if broadcast.held is Hold.QUIET:
                await self._publisher.release(broadcast, now)
            case State.QUEUED:  # a process died between queueing and sending
                await self._publisher.complete(broadcast.id)
            case State.SCHEDULED if broadcast.recurrence:
                return await self._repeat(broadcast, due, now, grace)
            case State.SCHEDULED if now - due > grace:
                held = await self._publisher.hold(broadcast, due, Hold.MISSED, expect=State.SCHEDULED)
                await self._log(Action.MISSED, broadcast.id, now)
                return self._tell_author(held, "staff_missed_author")
            case State.SCHEDULED:
                await self._publisher.publish(broadcast, now, expect=State.SCHEDULED)
                await self._log(Action.SEND, broadcast.id, now, version=broadcast.version)
        return []

    async def _withdraw(
        self, broadcast: Broadcast | None, refusal: approval.Refusal | None, now: datetime
    ) -> list[Notice]:
        """Due, but it may not go (a reload took a role, or it is not the approved version): nothing is
        sent; it goes back to its author as a draft to submit again (a held one, already published, is
        cancelled), and its author and the admins are told why."""
        if broadcast is None or refusal is None:
            return []
        target = State.DRAFT if broadcast.state in (State.APPROVED, State.SCHEDULED) else State.CANCELLED
        try:
            await self._store.transition(broadcast.id, target, expect=broadcast.state)
        except InvalidTransition:
            return []
        await self._log(Action.WITHDRAWN, broadcast.id, now, refusal.value, version=broadcast.version)
        log.warning("broadcast %s was due but not sent: %s", broadcast.id, refusal.value)
        withdrawn = replace(broadcast, state=target)
        city = self._city()
        author = city.staff_member(broadcast.author)
        told = {m.id: m for m in [*([author] if author else []), *approval.admins(city)]}
        return [Notice(member, f"staff_withdrawn_{refusal.value}", withdrawn) for member in told.values()]

    async def _repeat(
        self, series: Broadcast, due: datetime, now: datetime, grace: timedelta
    ) -> list[Notice]:
        """One occurrence of repeating news: a broadcast of its own, named by the series and the day."""
        city = self._city()
        # Each occurrence is the series' approved version; the series itself must still be sendable.
        if not (verdict := approval.may_send(city, series)).allowed:
            raise Refused(verdict)
        rule = Recurrence.decode(series.recurrence or "")
        notices: list[Notice] = []
        if now - due > grace:
            await self._log(Action.MISSED, series.id, now, due.astimezone(city.tz).isoformat())
            notices = self._tell_author(replace(series, scheduled_for=due), "staff_repeat_missed_author")
        else:
            occurrence = replace(
                series,
                id=f"{series.id}-{due.astimezone(city.tz):%Y%m%d}",
                recurrence=None,
                state=State.APPROVED,
                created_at=now,
                scheduled_for=due,
            )
            await self._store.create_named(occurrence)
            # Whoever created it or not: only one process moves it out of APPROVED.
            stored = await self._store.get(occurrence.id)
            if stored is not None and stored.state is State.APPROVED:
                with contextlib.suppress(InvalidTransition):
                    await self._publisher.publish(stored, now, expect=State.APPROVED)
                    detail = f"repeats {series.id} as approved in {short(series.version)}"
                    await self._log(Action.SEND, stored.id, now, detail, version=stored.version)
        await self._publisher.reschedule(series.id, due, rule.next_after(max(due, now), city.tz))
        return notices

    async def _waiting(self, broadcast_id: str) -> bool:
        """Whether the index entry still serves: the broadcast waits for a time, or to be completed."""
        found = await self._store.get(broadcast_id)
        if found is None:
            return False
        return found.state in (State.SCHEDULED, State.QUEUED) or (
            found.state is State.HELD and found.held is Hold.QUIET
        )

    async def _digests(self, now: datetime) -> list[Notice]:
        """Every local day's digest whose time came, each exactly once, following the grace rule."""
        city = self._city()
        record = cast(dict[str, str], await self._redis.hgetall(self._keys.digests()))
        today = now.astimezone(city.tz).date()
        if "last" not in record:  # the first start: nothing to catch up on
            started = today if local(today, city.digest_time, city.tz) <= now else today - timedelta(days=1)
            await self._redis.hsetnx(self._keys.digests(), "last", started.isoformat())
            await self._redis.hsetnx(self._keys.digests(), "cutoff", now.isoformat())
            return []
        last = date.fromisoformat(record["last"])
        day = max(last + timedelta(days=1), today - timedelta(days=MAX_CATCH_UP_DAYS))
        notices: list[Notice] = []
        while (due := local(day, city.digest_time, city.tz)) <= now:
            missed = now - due > timedelta(minutes=city.schedule_grace_minutes)
            latest = local(day + timedelta(days=1), city.digest_time, city.tz) > now
            if not missed:
                await self._send_digest(day, due, now)
            elif latest:  # only the last missed day is held; its window covers the days before
                notices += await self._hold_digest(day, due, now)
            await self._redis.hset(self._keys.digests(), "last", day.isoformat())
            day += timedelta(days=1)
        return notices

    def _digest(self, day: date, due: datetime, since: datetime, now: datetime) -> Broadcast:
        return Broadcast(
            id=f"{DIGEST_PREFIX}{day.isoformat()}",
            topics=(ALL_TOPICS,),
            text_de="Tagesüberblick",
            text_en="Daily digest",
            author=SYSTEM,
            created_at=now,
            priority=Priority.DIGEST,
            state=State.APPROVED,
            scheduled_for=due,
            since=since,
            approved_by=SYSTEM,
        )

    async def _send_digest(self, day: date, due: datetime, now: datetime) -> None:
        cutoff = await self.cutoff(now)
        digest = self._digest(day, due, min(cutoff, due), now)
        await self._store.create_named(digest)
        await self._supersede_held_digests(digest.id, now)
        stored = await self._store.get(digest.id)
        if stored is not None and stored.state is State.APPROVED:
            try:
                await self._publisher.publish(stored, now, expect=State.APPROVED)
            except InvalidTransition:
                return
            await self._log(Action.SEND, stored.id, now, version=stored.version)
        await self.advance_cutoff(due)

    async def _hold_digest(self, day: date, due: datetime, now: datetime) -> list[Notice]:
        cutoff = await self.cutoff(now)
        digest = self._digest(day, due, min(cutoff, due), now)
        if not await self._store.create_named(digest) or (stored := await self._store.get(digest.id)) is None:
            return []
        await self._supersede_held_digests(digest.id, now)
        held = await self._publisher.hold(stored, due, Hold.MISSED, expect=State.APPROVED)
        await self._log(Action.MISSED, digest.id, now)
        log.warning("the daily digest of %s was missed while the service was down; it is held", day)
        return [Notice(admin, "staff_digest_missed", held) for admin in approval.admins(self._city())]

    async def advance_cutoff(self, until: datetime) -> None:
        """The next digest starts after `until` (never moves back)."""
        current = await self._redis.hget(self._keys.digests(), "cutoff")
        if current is None or datetime.fromisoformat(str(current)) < until:
            await self._redis.hset(self._keys.digests(), "cutoff", until.isoformat())

    async def cutoff(self, now: datetime) -> datetime:
        """Where the next digest's window starts: the end of the last digest sent."""
        found = await self._redis.hget(self._keys.digests(), "cutoff")
        return datetime.fromisoformat(str(found)) if found else now

    async def _supersede_held_digests(self, newer: str, now: datetime) -> None:
        """A new digest covers what an older held one would have said: the older one is cancelled."""
        for broadcast in await self._store.open_items():
            if (
                broadcast.priority is Priority.DIGEST
                and broadcast.id != newer
                and broadcast.state is State.HELD
            ):
                try:
                    await self._store.transition(broadcast.id, State.CANCELLED, expect=State.HELD)
                except InvalidTransition:
                    continue
                await self._log(Action.CANCEL, broadcast.id, now, "superseded")

    def _tell_author(self, broadcast: Broadcast, key: str) -> list[Notice]:
        author = self._city().staff_member(broadcast.author)
        return [Notice(author, key, broadcast)] if author is not None else []

    async def _log(
        self, action: Action, broadcast_id: str, now: datetime, detail: str = "", *, version: str = ""
    ) -> None:
        await self._audit.record(Entry(now, SYSTEM, action, broadcast_id, detail, version=version))
