"""The editorial desk: staff actions on broadcasts under the four-eyes rules, each one audited.

Handlers call the desk with the acting staff member and where they act from; the desk checks the rules
(broadcasts/approval.py), moves the broadcast through its states, hands approved ones to the engine and
records who did what to which version. An approval or review names the version the person saw (its
short hash): a broadcast changed since is refused, so what goes out is what was approved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from city.config import City, StaffMember
from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel

from broadcasts import approval
from broadcasts.amendments import Amendments
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.calendar import Recurrence
from broadcasts.desk_values import Actor, DeskError, DeskProblem, Edited, Submitted
from broadcasts.engine import Engine
from broadcasts.expiry import Expiry
from broadcasts.feed_desk import is_feed_author
from broadcasts.message_ids import MessageIds
from broadcasts.model import SYSTEM, TERMINAL, Broadcast, InvalidTransition, NotApproved, Priority, State
from broadcasts.notice import Notice
from broadcasts.progress import Progress
from broadcasts.publisher import Publisher, Refused
from broadcasts.store import BroadcastStore, Flag
from broadcasts.version import matches, short

# How long a pressed "Ändern" waits for the new text.
EDIT_WINDOW_S = 30 * 60


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
        redis: RedisClient,
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
        self._expiry = Expiry(store=store, audit=audit, city=city, clock=clock)
        self.amendments = Amendments(
            store=store, ids=MessageIds(redis, keys), audit=audit, city=city, clock=clock, submit=self.submit
        )

    async def draft(
        self,
        actor: Actor,
        *,
        topics: tuple[str, ...],
        text_de: str,
        text_en: str | None = None,
        priority: Priority = Priority.NEWS,
        scheduled_for: datetime | None = None,
        recurrence: Recurrence | None = None,
    ) -> Broadcast:
        verdict = approval.may_draft(self._city(), actor.member, topics, priority)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        draft = Broadcast(
            id="",
            topics=topics,
            text_de=text_de,
            text_en=text_en,
            author=actor.member.id,
            created_at=self._clock(),
            priority=priority,
            scheduled_for=scheduled_for,
            recurrence=recurrence.encode() if recurrence else None,
        )
        created = await self._store.create(draft)
        await self._log(actor, Action.DRAFT, created)
        return created

    async def edit(self, actor: Actor, broadcast_id: str, text_de: str, text_en: str | None) -> Edited:
        """A new text, and with it a new version; a change to a submitted or approved but unsent broadcast
        voids its request or approval, so it needs approval again."""
        broadcast = await self._own(actor, broadcast_id)
        if broadcast.state is not State.DRAFT:
            await self._move(broadcast, State.DRAFT)
        try:
            edited = await self._store.save(replace(broadcast, text_de=text_de, text_en=text_en))
        except InvalidTransition as exc:  # submitted again meanwhile, from another chat
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(actor, Action.EDIT, edited, f"replaces {short(broadcast.version)}")
        return Edited(edited, broadcast.state, broadcast.version)

    async def submit(self, actor: Actor, broadcast_id: str) -> Submitted:
        """Ask for approval of the current version, or send it at once where the city switched approval
        off for the topics (and for alerts: break-glass, checked by an approver afterwards)."""
        broadcast = await self._own(actor, broadcast_id)
        city = self._city()
        if approval.needs_approval(city, broadcast):
            try:
                await self._store.transition(
                    broadcast.id, State.PENDING_APPROVAL, require={"version": broadcast.version}
                )
            except InvalidTransition as exc:
                raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
            except NotApproved:  # edited in the same moment from another chat
                raise DeskError(DeskProblem.STALE, broadcast=await self._get(broadcast_id)) from None
            await self._log(actor, Action.SUBMIT, broadcast)
            pending = replace(broadcast, state=State.PENDING_APPROVAL)
            return Submitted(pending, approval.approvers(city, pending))
        break_glass = broadcast.priority is Priority.ALERT
        await self._approve(broadcast, actor.member.id, State.DRAFT)
        if break_glass:  # flagged before it moves on, so that it stays listed until it is checked
            await self._store.flag(broadcast.id, Flag.NEEDS_REVIEW, True)
        approved = replace(broadcast, approved=broadcast.version, approved_by=actor.member.id)
        try:
            sent = await self._release(actor, approved)
        except DeskError:
            if break_glass:
                await self._store.flag(broadcast.id, Flag.NEEDS_REVIEW, False)
            raise
        if break_glass:
            await self._log(actor, Action.BREAK_GLASS, broadcast)
            flagged = replace(sent, needs_review=True)
            return Submitted(flagged, approval.approvers(city, flagged))
        return Submitted(sent, [])

    async def approve(self, actor: Actor, broadcast_id: str, version: str | None) -> Broadcast:
        """Approve the version named (the short hash of the request the approver saw); a held broadcast
        is sent (its author or an approver decides the time)."""
        broadcast = await self._get(broadcast_id)
        if broadcast.state is State.HELD:
            return await self._send_held(actor, broadcast, version)
        self._check(approval.may_approve(self._city(), actor.member, broadcast))
        if broadcast.state is not State.PENDING_APPROVAL:
            raise DeskError(DeskProblem.WRONG_STATE, state=broadcast.state)
        await self._confirm(actor, broadcast, version)
        await self._approve(broadcast, actor.member.id, State.PENDING_APPROVAL)
        await self._log(actor, Action.APPROVE, broadcast)
        return await self._release(
            actor, replace(broadcast, approved=broadcast.version, approved_by=actor.member.id)
        )

    async def reject(self, actor: Actor, broadcast_id: str, version: str | None, reason: str) -> Broadcast:
        """Reject; a version named (from a button) must be the current one, a typed reject needs none."""
        broadcast = await self._get(broadcast_id)
        self._check(approval.may_approve(self._city(), actor.member, broadcast))
        if version is not None:
            await self._confirm(actor, broadcast, version)
        await self._move(broadcast, State.REJECTED)
        await self._log(actor, Action.REJECT, broadcast, reason)
        return replace(broadcast, state=State.REJECTED)

    async def cancel(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """Stops a broadcast for good; one person may (see `_stoppable`)."""
        broadcast = await self._stoppable(actor, broadcast_id)
        if broadcast.state in TERMINAL:
            raise DeskError(DeskProblem.WRONG_STATE, state=broadcast.state)
        try:
            await self._engine.cancel(broadcast.id)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(actor, Action.CANCEL, broadcast)
        return replace(broadcast, state=State.CANCELLED)

    async def pause(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """Whoever may stop a broadcast may hold it while it sends, for example to correct a mistake; an
        approver's pause holds it until an approver lets it go on."""
        broadcast = await self._stoppable(actor, broadcast_id)
        as_approver = approval.pauses_as_approver(self._city(), actor.member, broadcast)
        try:
            await self._engine.pause(broadcast.id, by=actor.member.id, approver=as_approver)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        await self._log(actor, Action.PAUSE, broadcast, "as approver" if as_approver else "")
        return replace(broadcast, state=State.PAUSED, approver_paused=as_approver)

    async def resume(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """A paused broadcast was approved already: going on needs no second person, unless an approver
        paused it."""
        broadcast = await self._stoppable(actor, broadcast_id)
        if broadcast.state is State.PAUSED:
            self._check(approval.may_resume(self._city(), actor.member, broadcast))
        with _publishing():
            await self._engine.resume(broadcast.id)
        await self._log(actor, Action.RESUME, broadcast)
        return replace(broadcast, state=State.SENDING)

    async def review(self, actor: Actor, broadcast_id: str, version: str | None) -> Broadcast:
        """An approver confirms a break-glass alert after the fact, naming the version they checked."""
        broadcast = await self._get(broadcast_id)
        if broadcast.author == actor.member.id or approval.holds(
            actor.member, "approver", approval.topics_of(self._city(), broadcast.topics)
        ):
            raise DeskError(DeskProblem.REFUSED, refusal=approval.Refusal.NOT_APPROVER)
        if not broadcast.needs_review:
            raise DeskError(DeskProblem.WRONG_STATE, state=broadcast.state)
        await self._confirm(actor, broadcast, version)
        await self._store.flag(broadcast.id, Flag.NEEDS_REVIEW, False)
        await self._log(actor, Action.REVIEW, broadcast)
        return replace(broadcast, needs_review=False)

    async def readable(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """A broadcast's text for a test copy or a look: for its author and staff of its topics."""
        broadcast = await self._get(broadcast_id)
        self._check(approval.may_see(self._city(), actor.member, broadcast))
        return broadcast

    async def open_items(self, actor: Actor) -> list[Broadcast]:
        """Drafts, pending and scheduled broadcasts and unreviewed alerts in the member's topics, all of
        them however old, newest first."""
        city = self._city()
        return [b for b in await self._store.open_items() if approval.may_see(city, actor.member, b).allowed]

    async def upkeep(self, now: datetime) -> list[Notice]:
        """Expire drafts left too long and escalate alerts waiting too long (broadcasts/expiry.py)."""
        return await self._expiry.run(now)

    async def audience(self, broadcast: Broadcast, channels: tuple[Channel, ...]) -> Mapping[Channel, int]:
        """How many will receive it per channel (an upper bound for several topics: some follow more)."""
        topics = approval.topics_of(self._city(), broadcast.topics)
        counts: dict[Channel, int] = {}
        for channel in channels:
            counts[channel] = sum([await self._audience(topic, channel) for topic in sorted(topics)])
        return counts

    async def get(self, broadcast_id: str) -> Broadcast:
        return await self._get(broadcast_id)

    async def expect_edit(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """The member's next plain message becomes the new text of their broadcast (for 30 minutes)."""
        broadcast = await self._own(actor, broadcast_id)
        await self._redis.set(self._keys.staff_edit(actor.member.id), broadcast.id, ex=EDIT_WINDOW_S)
        return broadcast

    async def expected_edit(self, member: StaffMember) -> str | None:
        """The broadcast awaiting the member's new text, if any; asking ends the wait."""
        found = await self._redis.getdel(self._keys.staff_edit(member.id))
        return str(found) if found else None

    async def record_reload(self, now: datetime) -> None:
        await self._audit.record(Entry(now, SYSTEM, Action.RELOAD))

    async def progress(self, broadcast_id: str) -> Progress:
        return await self._store.progress(broadcast_id)

    async def sending(self) -> list[str]:
        """Broadcasts going out right now, newest last."""
        recent = await self._store.recent(100)
        return [b.id for b in reversed(recent) if b.state in (State.QUEUED, State.SENDING, State.PAUSED)]

    async def _approve(self, broadcast: Broadcast, by: str, expect: State) -> None:
        """Approve exactly the version the caller holds; a change in between makes it stale."""
        try:
            await self._store.approve(broadcast.id, broadcast.version, by, expect=expect)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
        except NotApproved:
            raise DeskError(DeskProblem.STALE, broadcast=await self._get(broadcast.id)) from None

    async def _confirm(self, actor: Actor, broadcast: Broadcast, version: str | None) -> None:
        """The version named must be the current one; none named means: show it first. A stale one is
        audited, since it is what a swapped text looks like."""
        if version is None:
            raise DeskError(DeskProblem.UNCONFIRMED, broadcast=broadcast)
        if not matches(broadcast.version, version):
            await self._log(actor, Action.REFUSED, broadcast, f"names version {version[:16]}")
            raise DeskError(DeskProblem.STALE, broadcast=broadcast)

    async def _release(self, actor: Actor, broadcast: Broadcast) -> Broadcast:
        """Approved: out now (or when the quiet hours end), or at its time."""
        now = self._clock()
        due = broadcast.scheduled_for
        if broadcast.recurrence and (due is None or due <= now):
            due = Recurrence.decode(broadcast.recurrence).next_after(now, self._city().tz)
        with _publishing():  # InvalidTransition: cancelled between the approval and now
            if due is not None and due > now:
                return await self._publisher.plan(broadcast, due, expect=State.APPROVED)
            released = await self._publisher.publish(broadcast, now, expect=State.APPROVED)
        await self._log(actor, Action.SEND, broadcast)
        return released

    async def _send_held(self, actor: Actor, broadcast: Broadcast, version: str | None) -> Broadcast:
        """A held broadcast (missed while the service was down) goes out when a person says so: its
        author, an approver of its topics or an admin. It was approved before; this decides the time."""
        city = self._city()
        topics = approval.topics_of(city, broadcast.topics)
        if broadcast.author != actor.member.id and approval.holds(actor.member, "approver", topics):
            raise DeskError(
                DeskProblem.REFUSED, refusal=approval.Refusal.NOT_APPROVER, topics=tuple(sorted(topics))
            )
        if version is not None:
            await self._confirm(actor, broadcast, version)
        with _publishing():
            released = await self._publisher.release(broadcast, self._clock())
        await self._log(actor, Action.RELEASE, broadcast)
        return released

    async def _stoppable(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """One person may stop a broadcast: the author, an editor, approver or alerter of its topics, or an
        admin."""
        broadcast = await self._get(broadcast_id)
        self._check(approval.may_see(self._city(), actor.member, broadcast))
        return broadcast

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

    async def _own(self, actor: Actor, broadcast_id: str) -> Broadcast:
        broadcast = await self._get(broadcast_id)
        if is_feed_author(broadcast.author):
            broadcast = await self._adopt(actor, broadcast)
        if broadcast.author != actor.member.id:
            raise DeskError(DeskProblem.NOT_AUTHOR)
        return broadcast

    async def _adopt(self, actor: Actor, broadcast: Broadcast) -> Broadcast:
        """An editor of its topics who submits or edits a feed's draft becomes its author (four-eyes then
        applies to them); one editor only, however many press at once."""
        member = actor.member
        verdict = approval.may_draft(self._city(), member, broadcast.topics, broadcast.priority)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        if not await self._store.adopt(broadcast.id, broadcast.author, member.id):
            return await self._get(broadcast.id)  # taken up by another editor, or no longer a draft
        await self._log(actor, Action.EDIT, broadcast, f"taken up from {broadcast.author}")
        return replace(broadcast, author=member.id)

    async def _move(self, broadcast: Broadcast, to: State) -> None:
        try:
            await self._store.transition(broadcast.id, to)
        except InvalidTransition as exc:
            raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None

    @staticmethod
    def _check(verdict: approval.Verdict) -> None:
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)

    async def _log(self, actor: Actor, action: Action, broadcast: Broadcast, detail: str = "") -> None:
        entry = Entry(
            self._clock(),
            actor.member.id,
            action,
            broadcast.id,
            detail,
            version=broadcast.version,
            via=actor.via,
            os_user=actor.os_user,
        )
        await self._audit.record(entry)


@contextmanager
def _publishing() -> Iterator[None]:
    """What moving a broadcast on towards residents may meet, as the desk's errors."""
    try:
        yield
    except InvalidTransition as exc:
        raise DeskError(DeskProblem.WRONG_STATE, state=exc.current) from None
    except Refused as exc:
        raise DeskError(DeskProblem.REFUSED, refusal=exc.verdict.refusal, topics=exc.verdict.topics) from None
    except NotApproved:
        raise DeskError(DeskProblem.REFUSED, refusal=approval.Refusal.NOT_APPROVED) from None
