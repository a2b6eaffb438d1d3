"""The desk's upkeep: drafts and requests left too long expire, alerts waiting too long are escalated.

It walks every open broadcast however old (the store's index of open broadcasts), and returns what to
tell whom as notices; the service delivers them. What is due at a time is the scheduler's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from city.config import City

from broadcasts import approval
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.model import SYSTEM, Broadcast, InvalidTransition, Priority, State
from broadcasts.notice import Notice
from broadcasts.store import BroadcastStore, Flag


class Expiry:
    def __init__(
        self,
        *,
        store: BroadcastStore,
        audit: AuditLog,
        city: Callable[[], City],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._audit = audit
        self._city = city
        self._clock = clock

    async def run(self, now: datetime) -> list[Notice]:
        """Expire drafts left too long, and remind approvers and admins of alerts waiting too long."""
        city = self._city()
        expiry = timedelta(hours=city.draft_expiry_hours)
        escalation = timedelta(minutes=city.alert_escalation_minutes)
        notices: list[Notice] = []
        for broadcast in await self._store.open_items():
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
                await self._store.flag(broadcast.id, Flag.ESCALATED, True)
                reminded = {m.id: m for m in [*approval.approvers(city, broadcast), *approval.admins(city)]}
                reminded.pop(broadcast.author, None)
                escalated = replace(broadcast, escalated=True)
                notices += [Notice(member, "staff_escalation", escalated) for member in reminded.values()]
        return notices

    async def _expire(self, city: City, broadcast: Broadcast) -> list[Notice]:
        try:
            await self._store.transition(broadcast.id, State.EXPIRED)
        except InvalidTransition:  # approved or cancelled meanwhile
            return []
        await self._audit.record(
            Entry(self._clock(), SYSTEM, Action.EXPIRE, broadcast.id, version=broadcast.version)
        )
        author = city.staff_member(broadcast.author)
        expired = replace(broadcast, state=State.EXPIRED)
        return [Notice(author, "staff_expired_author", expired)] if author is not None else []
