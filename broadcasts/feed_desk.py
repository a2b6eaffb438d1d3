"""Feed items into the desk, by the feed's own identity: a draft for the topic's editors, an item in the
next digest, or (where the topic needs no approval) a broadcast sent at once. Each is audited.

A feed's draft is no staff member's: the editor who submits or edits it becomes its author
(`Desk._own`), so four-eyes applies to that person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from city.config import City
from city.feeds import Feed

from broadcasts import approval
from broadcasts.audit import Action, AuditLog, Entry, Via
from broadcasts.model import Broadcast, State
from broadcasts.publisher import Publisher
from broadcasts.store import BroadcastStore

FEED_AUTHOR = "feed:"


def feed_author(feed_id: str) -> str:
    return FEED_AUTHOR + feed_id


def is_feed_author(author: str) -> bool:
    return author.startswith(FEED_AUTHOR)


class FeedDesk:
    def __init__(
        self,
        *,
        store: BroadcastStore,
        publisher: Publisher,
        audit: AuditLog,
        city: Callable[[], City],
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._city = city

    async def take(
        self, feed: Feed, topics: tuple[str, ...], text: str, image: bytes | None, now: datetime
    ) -> Broadcast:
        """The item as the feed's mode says; a `publish` feed whose topic needs approval after all (the
        city file changed) makes a draft instead, never a broadcast without a second person. `image`: the
        item's picture, a JPEG or PNG."""
        author = feed_author(feed.id)
        item = Broadcast(id="", topics=topics, text_de=text, author=author, created_at=now)
        if feed.mode == "digest":
            # Published without a push: the digest and a new subscriber's look back read the timeline,
            # which show no pictures, so none is kept.
            done = await self._store.create(replace(item, state=State.DONE), approved_by=author)
            await self._publisher.timeline.record(done, topics, now)
            await self._log(now, author, Action.SEND, done.id, "digest only")
            return done
        if feed.mode == "publish" and not approval.needs_approval(self._city(), item):
            approved = await self._store.create(
                replace(item, state=State.APPROVED), approved_by=author, image=image
            )
            await self._log(now, author, Action.DRAFT, approved.id, "")
            released = await self._publisher.publish(approved, now, expect=State.APPROVED)
            await self._log(now, author, Action.SEND, approved.id, "")
            return released
        draft = await self._store.create(item, image=image)
        await self._log(now, author, Action.DRAFT, draft.id, "")
        return draft

    async def _log(self, now: datetime, who: str, action: Action, broadcast_id: str, detail: str) -> None:
        await self._audit.record(Entry(now, who, action, broadcast_id, detail, via=Via.FEED))
