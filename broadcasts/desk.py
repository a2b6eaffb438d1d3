"""The editorial desk: staff actions on broadcasts under the four-eyes rules, each one audited.

Handlers call the desk with the acting staff entry; the desk checks the rules (broadcasts/approval.py),
moves the broadcast through its states, hands approved ones to the engine and records who did what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import redis.asyncio as aioredis
from city.config import City, StaffMember
from city.keys import Keys
from city.values import Channel

from broadcasts import approval
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.calendar import Recurrence
from broadcasts.engine import Engine
from broadcasts.feed_desk import is_feed_author
from broadcasts.model import TERMINAL, Broadcast, InvalidTransition, Priority, State
from broadcasts.notice import Notice
from broadcasts.publisher import Publisher
from broadcasts.store import BroadcastStore, Progress

# How long a pressed "Ändern" waits for the new text.
EDIT_WINDOW_S = 30 * 60
# Reviews of break-glass alerts that are still open are listed with the drafts.
OPEN_STATES = (State.DRAFT, State.PENDING_APPROVAL, State.APPROVED, State.SCHEDULED, State.HELD)


class DeskProblem(StrEnum):
    UNKNOWN = "unknown"  # no such broadcast
    REFUSED = "refused"  # the rules say no; see `refusal`
    WRONG_STATE = "wrong_state"  # e.g. approving what was already sent
    NOT_AUTHOR = "not_author"


class DeskError(Exception):
    def __init__(
        self,
        problem: DeskProblem,
        *,
        state: State | None = None,
        refusal: approval.Refusal | None = None,
        topics: tuple[str, ...] = (),
    ) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.state = state
        self.refusal = refusal
        self.topics = topics


@dataclass(frozen=True, slots=True)
class Submitted:
    broadcast: Broadcast
    approvers: list[StaffMember]  # to notify; empty when no approval was needed and it went out


class Desk:
    def __init__(
        self,
        *,
        store: BroadcastStore,
        engine: Engine,
        audit: AuditLog,
        city: Callable[[], City],
        audience: Callable[[str, Channel], Awaitable[int]],
        digest_audience: Callable[[str, Channel], Awaitable[int]],
        publisher: Publisher,
        clock: Callable[[], datetime],
        redis: aioredis.Redis,
        keys: Keys,
    ) -> None:
        self._digest_audience = digest_audience
        self._publisher = publisher
        self._redis = redis
        self._keys = keys
        self._store = store
        self._engine = engine
        self._audit = audit
        self._city = city
        self._audience = audience
        self._clock = clock

    async def draft(
        self,
        member: StaffMember,
        *,
        topics: tuple[str, ...],
        text_de: str,
        text_en: str | None = None,
        priority: Priority = Priority.NEWS,
        scheduled_for: datetime | None = None,
        recurrence: Recurrence | None = None,
    ) -> Broadcast:
        verdict = approval.may_draft(self._city(), member, topics, priority)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        draft = Broadcast(
            id="",
            topics=topics,
            text_de=text_de,
            text_en=text_en,
            author=member.id,
            created_at=self._clock(),
            priority=priority,
            scheduled_for=scheduled_for,
            recurrence=recurrence.encode() if recurrence else None,
        )
        created = await self._store.create(draft)
        await self._log(member.id, Action.DRAFT, created.id)
        return created

    async def edit(
        self, member: StaffMember, broadcast_id: str, text_de: str, text_en: str | None
    ) -> Broadcast:
        """A new text; a change to a submitted or approved but unsent broadcast needs approval again."""
        broadcast = await self._own(member, broadcast_id)
        if broadcast.state is not State.DRAFT:
            await self._move(broadcast, State.DRAFT)
        edited = replace(broadcast, text_de=text_de, text_en=text_en, state=State.DRAFT)
        await self._store.save(edited)
        await self._log(member.id, Action.EDIT, broadcast_id)
        return edited

    async def submit(self, member: StaffMember, broadcast_id: str) -> Submitted:
        """Ask for approval, or send at once where the city switched approval off for the topics."""
        broadcast = await self._own(member, broadcast_id)
        city = self._city()
        if approval.needs_approval(city, broadcast):
            await self._move(broadcast, State.PENDING_APPROVAL)
            await self._log(member.id, Action.SUBMIT, broadcast_id)
            pending = replace(broadcast, state=State.PENDING_APPROVAL)
            return Submitted(pending, approval.approvers(city, pending))
        await self._move(broadcast, State.APPROVED)
        sent = await self._release(member, broadcast)
        if broadcast.priority is Priority.ALERT:
            # Break-glass: out without a second person, but every approver looks at it afterwards.
            flagged = replace(sent, needs_review=True)
            await self._store.save(flagged)
            await self._log(member.id, Action.BREAK_GLASS, broadcast_id)
            return Submitted(flagged, approval.approvers(city, flagged))
        return Submitted(sent, [])

    async def approve(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        broadcast = await self._get(broadcast_id)
        if broadcast.state is State.HELD:
            return await self._send_held(member, broadcast)
        verdict = approval.may_approve(self._city(), member, broadcast)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        await self._move(broadcast, State.APPROVED)
        await self._log(member.id, Action.APPROVE, broadcast_id)
        return await self._release(member, broadcast)

    async def reject(self, member: StaffMember, broadcast_id: str, reason: str) -> Broadcast:
        broadcast = await self._get(broadcast_id)
        verdict = approval.may_approve(self._city(), member, broadcast)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        await self._move(broadcast, State.REJECTED)
        await self._log(member.id, Action.REJECT, broadcast_id, reason)
        return replace(broadcast, state=State.REJECTED)

    async def cancel(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """Stops a broadcast for good; one person may (see `_stoppable`)."""
        broadcast = await self._stoppable(member, broadcast_id)
        if broadcast.state in TERMINAL:
            raise DeskError(DeskProblem.WRONG_STATE, state=broadcast.state)
        try:
            await self._engine.cancel(broadcast_id)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(member.id, Action.CANCEL, broadcast_id)
        return replace(broadcast, state=State.CANCELLED)

    async def pause(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """Whoever may stop a broadcast may hold it while it sends, for example to correct a mistake."""
        return await self._hold_or_go(member, broadcast_id, State.PAUSED, Action.PAUSE)

    async def resume(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """A paused broadcast was approved already: going on needs no second person."""
        return await self._hold_or_go(member, broadcast_id, State.SENDING, Action.RESUME)

    async def _hold_or_go(
        self, member: StaffMember, broadcast_id: str, state: State, action: Action
    ) -> Broadcast:
        broadcast = await self._stoppable(member, broadcast_id)
        try:
            await (self._engine.pause if state is State.PAUSED else self._engine.resume)(broadcast_id)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(member.id, action, broadcast_id)
        return replace(broadcast, state=state)

    async def _stoppable(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """One person may stop a broadcast: the author, an editor, approver or alerter of its topics, or an
        admin."""
        broadcast = await self._get(broadcast_id)
        topics = approval.topics_of(self._city(), broadcast.topics)
        if broadcast.author != member.id and all(
            approval.holds(member, role, topics) for role in ("editor", "approver", "alert")
        ):
            raise DeskError(
                DeskProblem.REFUSED, refusal=approval.Refusal.NOT_EDITOR, topics=tuple(sorted(topics))
            )
        return broadcast

    async def review(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """An approver confirms a break-glass alert after the fact."""
        broadcast = await self._get(broadcast_id)
        if broadcast.author == member.id or approval.holds(
            member, "approver", approval.topics_of(self._city(), broadcast.topics)
        ):
            raise DeskError(DeskProblem.REFUSED, refusal=approval.Refusal.NOT_APPROVER)
        if not broadcast.needs_review:
            raise DeskError(DeskProblem.WRONG_STATE, state=broadcast.state)
        reviewed = replace(broadcast, needs_review=False)
        await self._store.save(reviewed)
        await self._log(member.id, Action.REVIEW, broadcast_id)
        return reviewed

    async def open_items(self, member: StaffMember, limit: int = 200) -> list[Broadcast]:
        """Drafts, pending and scheduled broadcasts and unreviewed alerts in the member's topics."""
        city = self._city()
        found = []
        for broadcast in await self._store.recent(limit):
            if broadcast.state not in OPEN_STATES and not broadcast.needs_review:
                continue
            topics = approval.topics_of(city, broadcast.topics)
            if broadcast.author == member.id or any(
                not approval.holds(member, role, topics) for role in ("editor", "approver", "alert")
            ):
                found.append(broadcast)
        return found

    async def upkeep(self, now: datetime) -> list[Notice]:
        """Expire drafts left too long, and remind approvers and admins of alerts waiting too long.
        (What is due at a time is the scheduler's: broadcasts/scheduler.py.)"""
        city = self._city()
        expiry = timedelta(hours=city.draft_expiry_hours)
        escalation = timedelta(minutes=city.alert_escalation_minutes)
        notices: list[Notice] = []
        for broadcast in await self._store.recent(500):
            if broadcast.state not in (State.DRAFT, State.PENDING_APPROVAL):
                continue
            age = now - broadcast.created_at
            if age >= expiry:
                notices += await self._expire(city, broadcast)
            elif (
                broadcast.priority is Priority.ALERT
                and broadcast.state is State.PENDING_APPROVAL
                and not broadcast.escalated
                and age >= escalation
            ):
                escalated = replace(broadcast, escalated=True)
                await self._store.save(escalated)
                reminded = {m.id: m for m in [*approval.approvers(city, broadcast), *approval.admins(city)]}
                reminded.pop(broadcast.author, None)
                notices += [Notice(member, "staff_escalation", escalated) for member in reminded.values()]
        return notices

    async def _expire(self, city: City, broadcast: Broadcast) -> list[Notice]:
        try:
            await self._store.transition(broadcast.id, State.EXPIRED)
        except InvalidTransition:  # approved or cancelled meanwhile
            return []
        await self._log("system", Action.EXPIRE, broadcast.id)
        author = city.staff_member(broadcast.author)
        expired = replace(broadcast, state=State.EXPIRED)
        return [Notice(author, "staff_expired_author", expired)] if author is not None else []

    async def audience(self, broadcast: Broadcast, channels: tuple[Channel, ...]) -> Mapping[Channel, int]:
        """How many will receive it per channel (an upper bound for several topics: some follow more)."""
        topics = approval.topics_of(self._city(), broadcast.topics)
        counts: dict[Channel, int] = {}
        for channel in channels:
            counts[channel] = sum([await self._audience(topic, channel) for topic in sorted(topics)])
        return counts

    async def get(self, broadcast_id: str) -> Broadcast:
        return await self._get(broadcast_id)

    async def expect_edit(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        """The member's next plain message becomes the new text of their broadcast (for 30 minutes)."""
        broadcast = await self._own(member, broadcast_id)
        await self._redis.set(self._keys.staff_edit(member.id), broadcast.id, ex=EDIT_WINDOW_S)
        return broadcast

    async def expected_edit(self, member: StaffMember) -> str | None:
        """The broadcast awaiting the member's new text, if any; asking ends the wait."""
        found = await self._redis.getdel(self._keys.staff_edit(member.id))
        return str(found) if found else None

    async def record_reload(self, now: datetime) -> None:
        await self._audit.record(Entry(now, "system", Action.RELOAD))

    async def progress(self, broadcast_id: str) -> Progress:
        return await self._store.progress(broadcast_id)

    async def sending(self) -> list[str]:
        """Broadcasts going out right now, newest last."""
        recent = await self._store.recent(100)
        return [b.id for b in reversed(recent) if b.state in (State.QUEUED, State.SENDING, State.PAUSED)]

    async def _release(self, member: StaffMember, broadcast: Broadcast) -> Broadcast:
        """Approved: out now (or when the quiet hours end), or at its time."""
        now = self._clock()
        due = broadcast.scheduled_for
        if broadcast.recurrence and (due is None or due <= now):
            due = Recurrence.decode(broadcast.recurrence).next_after(now, self._city().tz)
        try:
            if due is not None and due > now:
                return await self._publisher.plan(broadcast, due, expect=State.APPROVED)
            released = await self._publisher.publish(broadcast, now, expect=State.APPROVED)
        except InvalidTransition as exc:  # cancelled between the approval and now
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(member.id, Action.SEND, broadcast.id)
        return released

    async def _send_held(self, member: StaffMember, broadcast: Broadcast) -> Broadcast:
        """A held broadcast (missed while the service was down) goes out when a person says so: its
        author, an approver of its topics or an admin. It was approved before; this decides the time."""
        city = self._city()
        topics = approval.topics_of(city, broadcast.topics)
        if broadcast.author != member.id and approval.holds(member, "approver", topics):
            raise DeskError(
                DeskProblem.REFUSED, refusal=approval.Refusal.NOT_APPROVER, topics=tuple(sorted(topics))
            )
        try:
            released = await self._publisher.release(broadcast, self._clock())
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(member.id, Action.RELEASE, broadcast.id)
        return released

    def quiet_until(self, moment: datetime) -> datetime | None:
        """When ordinary news released at `moment` would reach residents who want it at once."""
        return self._publisher.quiet_until(moment)

    async def digest_audience(self, broadcast: Broadcast, channels: tuple[Channel, ...]) -> int:
        """How many read the broadcast in their next daily digest instead (an upper bound)."""
        topics = approval.topics_of(self._city(), broadcast.topics)
        return sum([await self._digest_audience(t, c) for t in sorted(topics) for c in channels])

    async def _get(self, broadcast_id: str) -> Broadcast:
        broadcast = await self._store.get(broadcast_id.strip().lstrip("#"))
        if broadcast is None:
            raise DeskError(DeskProblem.UNKNOWN)
        return broadcast

    async def _own(self, member: StaffMember, broadcast_id: str) -> Broadcast:
        broadcast = await self._get(broadcast_id)
        if is_feed_author(broadcast.author):
            broadcast = await self._adopt(member, broadcast)
        if broadcast.author != member.id:
            raise DeskError(DeskProblem.NOT_AUTHOR)
        return broadcast

    async def _adopt(self, member: StaffMember, broadcast: Broadcast) -> Broadcast:
        """An editor of its topics who submits or edits a feed's draft becomes its author (four-eyes then
        applies to them); one editor only, however many press at once."""
        verdict = approval.may_draft(self._city(), member, broadcast.topics, broadcast.priority)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        if not await self._store.adopt(broadcast.id, broadcast.author, member.id):
            return await self._get(broadcast.id)  # taken up by another editor, or no longer a draft
        await self._log(member.id, Action.EDIT, broadcast.id, f"taken up from {broadcast.author}")
        return replace(broadcast, author=member.id)

    async def _move(self, broadcast: Broadcast, to: State) -> None:
        try:
            await self._store.transition(broadcast.id, to)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None

    async def _log(self, who: str, action: Action, broadcast_id: str, detail: str = "") -> None:
        await self._audit.record(Entry(self._clock(), who, action, broadcast_id, detail))
