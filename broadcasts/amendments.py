"""Corrections and retractions of what went out (/korrektur, /widerruf): a broadcast of their own that
follows the original (Broadcast.follows, .amends), drafted by staff and submitted under the four-eyes
rules the original had (an alert's correction may go break-glass where the city allows it), audited with
the old and new content hashes.

Once it goes out, the engine stops the original if it is still on its way (broadcasts/engine.py), and
the planner reaches exactly the original's recipients from their kept message ids
(broadcasts/message_ids.py): edited in place with a note where the messenger can edit, quoted where it
cannot. That is possible until the ids end: `correction_days` of the city file after the original began
sending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from city.config import City

from broadcasts import approval
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.desk_values import Actor, DeskError, DeskProblem, Submitted
from broadcasts.message_ids import MessageIds
from broadcasts.model import OPEN, Amendment, Broadcast, Priority, State
from broadcasts.store import BroadcastStore

# Never sent: there is nothing to correct in anyone's chat (/aendern and /stopp are for these).
UNSENT = OPEN | {State.REJECTED, State.EXPIRED}
ACTIONS = {Amendment.CORRECTION: Action.CORRECT, Amendment.RETRACTION: Action.RETRACT}


class Amendments:
    def __init__(
        self,
        *,
        store: BroadcastStore,
        ids: MessageIds,
        audit: AuditLog,
        city: Callable[[], City],
        clock: Callable[[], datetime],
        submit: Callable[[Actor, str], Awaitable[Submitted]],
    ) -> None:
        self._store = store
        self._ids = ids
        self._audit = audit
        self._city = city
        self._clock = clock
        self._submit = submit

    async def correct(self, actor: Actor, broadcast_id: str, text_de: str, text_en: str | None) -> Submitted:
        """A new text for a broadcast that went out. Without an English text the English readers get the
        corrected German one: the old English text may be as wrong."""
        return await self._amend(actor, broadcast_id, Amendment.CORRECTION, text_de, text_en)

    async def retract(self, actor: Actor, broadcast_id: str, reason: str) -> Submitted:
        """Withdraw a broadcast that went out (or is going out), with an optional reason."""
        return await self._amend(actor, broadcast_id, Amendment.RETRACTION, reason, None)

    async def _amend(
        self, actor: Actor, broadcast_id: str, amends: Amendment, text_de: str, text_en: str | None
    ) -> Submitted:
        original = await self._original(actor, broadcast_id)
        draft = Broadcast(
            id="",
            topics=original.topics,
            text_de=text_de,
            text_en=text_en,
            author=actor.member.id,
            created_at=self._clock(),
            priority=original.priority,
            # No image: the original's stays in the messages it is in; the rest of an original still on
            # its way gets the corrected text alone.
            links=original.links if amends is Amendment.CORRECTION else (),
            follows=original.id,
            amends=amends,
        )
        created = await self._store.create(draft)
        detail = f"of {original.id}: old {original.version} new {created.version}"
        entry = Entry(
            self._clock(),
            actor.member.id,
            ACTIONS[amends],
            created.id,
            detail,
            version=created.version,
            via=actor.via,
            os_user=actor.os_user,
        )
        await self._audit.record(entry)
        return await self._submit(actor, created.id)

    async def _original(self, actor: Actor, broadcast_id: str) -> Broadcast:
        """The broadcast to amend, if the member may write it and it reached anyone within the period."""
        original = await self._store.get(broadcast_id.strip().lstrip("#"))
        if original is None:
            raise DeskError(DeskProblem.UNKNOWN)
        verdict = approval.may_draft(self._city(), actor.member, original.topics, original.priority)
        if not verdict.allowed:
            raise DeskError(DeskProblem.REFUSED, refusal=verdict.refusal, topics=verdict.topics)
        if original.follows or original.priority is Priority.DIGEST:
            raise DeskError(DeskProblem.NOT_AMENDABLE, broadcast=original)
        if original.state in UNSENT:
            raise DeskError(DeskProblem.NOT_SENT, state=original.state, broadcast=original)
        until = await self._ids.until(original.id)
        if until is None or self._clock() > until:
            raise DeskError(DeskProblem.TOO_LATE, broadcast=original)
        return original
