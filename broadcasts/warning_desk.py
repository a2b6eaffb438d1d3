"""Official warnings into broadcasts, each (id, version) exactly once: a new warning at or above the
city's `min_severity` goes to the topic (Severe and Extreme in the alert lane, Moderate and Minor as
news); an update and the all-clear go to exactly the recipients of the first version, as a thread; a
warning that expires or leaves the dashboard is closed without a message.

A version's broadcast is named after the version (`named_id`), so that a process that dies half way
and the one that takes over make it once. `send: auto` publishes it at once, audited with
via=warnings; `send: approval` makes it a request for the topic's approvers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from city.config import City
from city.warnings import Warnings, rank

from broadcasts.approval import WARNINGS_AUTHOR
from broadcasts.audit import Action, AuditLog, Entry, Via
from broadcasts.message_ids import MessageIds
from broadcasts.model import OPEN, Broadcast, InvalidTransition, Priority, State
from broadcasts.publisher import Publisher, Refused
from broadcasts.store import BroadcastStore
from broadcasts.warning_documents import Detail, Listed, warning_text
from broadcasts.warning_threads import Stage, Thread, Threads

VIA = Via("warnings")
SEVERE = rank("Severe")
# Delivered at once or on their way: the version reached (or is reaching) residents.
OUT = frozenset({State.QUEUED, State.SENDING, State.PAUSED, State.DONE})


def is_warnings_author(author: str) -> bool:
    return author == WARNINGS_AUTHOR


# A version's broadcast id (`named_id`), as staff type it: /freigeben w1a2b3c4d5
NAMED_ID = r"w[0-9a-f]{9}"


def named_id(listed: Listed) -> str:
    """A version's broadcast id: short enough to type, the same in every process."""
    return "w" + hashlib.sha256(f"{listed.id}#{listed.version}".encode()).hexdigest()[:9]


# Message ids are kept while the warning is active and one day more; one without an expiry is taken as
# active this long, renewed by each version, until it leaves the dashboard.
AFTER_END = timedelta(days=1)
OPEN_ENDED = timedelta(days=7)


class WarningDesk:
    def __init__(
        self,
        *,
        store: BroadcastStore,
        publisher: Publisher,
        audit: AuditLog,
        threads: Threads,
        city: Callable[[], City],
        message_ids: MessageIds,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._threads = threads
        self._city = city
        self._ids = message_ids

    def _config(self) -> Warnings | None:
        return self._city().warnings

    async def needed(self, listed: Listed) -> bool:
        """Whether this version is still to be handled (worth fetching its detail for)."""
        config = self._config()
        if config is None or listed.provider not in config.providers:
            return False
        thread = await self._threads.get(listed.id)
        return thread.stage is not Stage.CLOSED and listed.version > thread.version

    async def take(self, listed: Listed, detail: Detail | None, now: datetime) -> Broadcast | None:
        """Handle one new version: the broadcast it became (sent, or asked of approvers; one that `follows`
        the first is an update or the all-clear), or None."""
        config = self._config()
        thread = await self._threads.get(listed.id)
        if config is None or thread.stage is Stage.CLOSED or listed.version <= thread.version:
            return None
        seen = replace(thread, version=listed.version, severity=listed.severity, headline=listed.headline,
                       provider=listed.provider, expires=listed.expires)  # fmt: skip
        if thread.stage is Stage.TWIN:
            await self._threads.save(seen, now)
            return None
        if thread.stage is Stage.RELAYED and await self._reached(thread.first):
            return await self._follow(config, listed, detail, seen, now)
        await self._withdraw(thread, now)  # a version nobody approved yet is replaced by this one
        return await self._open(config, listed, detail, seen, now)

    async def _open(
        self, config: Warnings, listed: Listed, detail: Detail | None, seen: Thread, now: datetime
    ) -> Broadcast | None:
        expired = listed.expires is not None and listed.expires <= now
        if listed.all_clear or expired or not config.relays(listed.severity):
            await self._threads.save(replace(seen, stage=Stage.QUIET), now)
            return None
        mark = listed.twin_mark
        first_id = await self._threads.twin(mark, listed.id)
        if first_id != listed.id:
            if (await self._threads.get(first_id)).open:
                await self._threads.save(replace(seen, stage=Stage.TWIN, twin_of=first_id), now)
                return None
            await self._threads.forget_mark(mark, first_id)  # the earlier one ended: this one is new
            await self._threads.twin(mark, listed.id)
        priority = Priority.ALERT if rank(listed.severity) >= SEVERE else Priority.NEWS
        broadcast = await self._make(config, listed, detail, priority, now, first="")
        thread = replace(seen, stage=Stage.RELAYED, first=broadcast.id, broadcasts=(broadcast.id,),
                         relayed_at=now, mark=mark, priority=int(priority))  # fmt: skip
        await self._threads.save(thread, now)
        return broadcast

    async def _follow(
        self, config: Warnings, listed: Listed, detail: Detail | None, seen: Thread, now: datetime
    ) -> Broadcast:
        """An update or the all-clear, to the first version's recipients; the all-clear always, whatever
        `min_severity` says, and it ends the thread."""
        severe = seen.priority == Priority.ALERT or rank(listed.severity) >= SEVERE
        priority = Priority.ALERT if severe else Priority.NEWS
        broadcast = await self._make(config, listed, detail, priority, now, first=seen.first)
        thread = replace(seen, broadcasts=(*seen.broadcasts, broadcast.id))
        if listed.all_clear:
            thread = await self._end(thread, now)
        await self._threads.save(thread, now)
        return broadcast

    async def close_gone(self, listed: Iterable[Listed] | None, now: datetime) -> int:
        """Threads whose warning expired, or left the dashboard just read (`listed`), end without a
        message; how many ended. Without a dashboard only what expired ends: any process may look."""
        active = None if listed is None else {item.id for item in listed}
        closed = 0
        for thread in await self._threads.listed():
            expired = thread.expires is not None and thread.expires <= now
            if thread.open and (expired or (active is not None and thread.warning_id not in active)):
                await self._withdraw(thread, now)
                await self._threads.save(await self._end(thread, now), now)
                closed += 1
        return closed

    async def severe_active(self) -> bool:
        """A Severe or Extreme warning is being relayed: the source is asked more often."""
        return any(
            t.stage is Stage.RELAYED and t.priority == Priority.ALERT for t in await self._threads.listed()
        )

    async def _end(self, thread: Thread, now: datetime) -> Thread:
        await self._threads.forget_mark(thread.mark, thread.warning_id)
        ended = replace(thread, stage=Stage.CLOSED)
        await self._keep(thread.broadcasts, now + AFTER_END, now)
        return ended

    async def _reached(self, broadcast_id: str) -> bool:
        found = await self._store.get(broadcast_id) if broadcast_id else None
        return found is not None and found.state in OUT

    async def _withdraw(self, thread: Thread, now: datetime) -> None:
        """Versions still waiting for an approver are cancelled: a newer one, or the end, replaces them."""
        for broadcast_id in thread.broadcasts:
            found = await self._store.get(broadcast_id)
            if found is None or found.state not in OPEN:
                continue
            try:
                await self._store.transition(broadcast_id, State.CANCELLED, expect=found.state)
            except InvalidTransition:
                continue
            await self._log(now, Action.CANCEL, found, "replaced by the source")

    async def _make(
        self, config: Warnings, listed: Listed, detail: Detail | None, priority: Priority, now: datetime,
        *, first: str,
    ) -> Broadcast:  # fmt: skip
        """The version's broadcast, made once; published at once with `send: auto`."""
        german = detail.info("de") or (detail.infos[0] if detail.infos else None) if detail else None
        english = detail.info("en") if detail else None
        auto = config.send == "auto"
        draft = Broadcast(
            id=named_id(listed),
            topics=(config.topic,),
            text_de=warning_text(listed, german, "de"),
            text_en=warning_text(listed, english, "en") if english else None,
            author=WARNINGS_AUTHOR,
            created_at=now,
            priority=priority,
            follows=first,  # an update or the all-clear: exactly the first's recipients, as replies
            state=State.APPROVED if auto else State.PENDING_APPROVAL,
            approved_by=WARNINGS_AUTHOR if auto else "",
        )
        if await self._store.create_named(draft):
            await self._log(now, Action.DRAFT, draft, f"{listed.provider} {listed.id} v{listed.version}")
        # Before it sends: what the first version's recipients got is the thread's, while it is active.
        until = (listed.expires or now + OPEN_ENDED) + AFTER_END
        await self._keep(tuple(dict.fromkeys((first or draft.id, draft.id))), until, now)
        stored = await self._store.get(draft.id)
        if stored is None or stored.state is not State.APPROVED:
            return stored or draft
        try:
            released = await self._publisher.publish(stored, now, expect=State.APPROVED)
        except (InvalidTransition, Refused):  # published by a process that died before noting it
            return stored
        await self._log(now, Action.SEND, stored, "")
        return released

    async def _keep(self, broadcast_ids: Iterable[str], until: datetime, now: datetime) -> None:
        """The message ids of these broadcasts' deliveries are kept until `until`, and then erased."""
        for broadcast_id in broadcast_ids:
            await self._ids.keep(broadcast_id, until, now)

    async def _log(self, now: datetime, action: Action, broadcast: Broadcast, detail: str) -> None:
        entry = Entry(now, WARNINGS_AUTHOR, action, broadcast.id, detail, version=broadcast.version, via=VIA)
        await self._audit.record(entry)
