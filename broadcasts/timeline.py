"""What each topic published, by time: the source of daily digests and of a new subscriber's first look.

A broadcast enters the timeline when it is published (approved and due), not when its last delivery
left: a digest at 07:00 includes news held back by the quiet hours until 07:00.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import cast

from city.connection import RedisClient
from city.keys import Keys

from broadcasts.model import Amendment, Broadcast, Priority, State
from broadcasts.store import BroadcastStore


@dataclass(frozen=True, slots=True)
class Item:
    published_at: datetime
    broadcast: Broadcast


# Longer than any digest window (a missed digest rolls into the next) and any "last three".
KEEP = timedelta(days=35)


class Timeline:
    def __init__(self, redis: RedisClient, keys: Keys, store: BroadcastStore) -> None:
        self._redis = redis
        self._keys = keys
        self._store = store

    async def record(self, broadcast: Broadcast, topic_ids: Iterable[str], at: datetime) -> None:
        """Idempotent: the first publication time of a broadcast stays."""
        oldest = (at - KEEP).timestamp()
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic_id in topic_ids:
                key = self._keys.topic_items(topic_id)
                pipe.zadd(key, {broadcast.id: at.timestamp()}, nx=True)
                pipe.zremrangebyscore(key, "-inf", oldest)
            await pipe.execute()

    async def latest(self, topic_id: str, count: int) -> list[Item]:
        """The topic's newest items that went out, oldest first: one held for the quiet hours reaches
        a new subscriber when they end, not twice."""
        scored = await self._redis.zrevrange(self._keys.topic_items(topic_id), 0, count + 4, withscores=True)
        published = {str(i): float(score) for i, score in cast(list[tuple[str, float]], scored)}
        found = [
            Item(datetime.fromtimestamp(published[b.id], UTC), b)
            for b in await self._published(list(published))
            if b.state is not State.HELD
        ]
        return list(reversed(found[:count]))

    async def news_between(
        self, topic_ids: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[Item]]:
        """Per topic, the non-urgent items published in (after, until], oldest first."""
        found: dict[str, list[Item]] = {}
        for topic_id in topic_ids:
            scored = await self._redis.zrangebyscore(
                self._keys.topic_items(topic_id), f"({after.timestamp()}", until.timestamp(), withscores=True
            )
            published = {str(i): float(score) for i, score in cast(list[tuple[str, float]], scored)}
            items = [
                Item(datetime.fromtimestamp(published[b.id], UTC), b)
                for b in await self._published(list(published))
                if b.priority is Priority.NEWS
            ]
            if items:
                found[topic_id] = items
        return found

    async def _published(self, ids: Sequence[str]) -> list[Broadcast]:
        """What went out, as approved: a digest or a new subscriber never reads another version. One
        corrected since reads as corrected (also when the correction stopped it on its way); one retracted
        is left out."""
        items = [b for b in await self._store.many(ids) if b is not None and b.bound]
        amendments = {b.id: b.amended_by for b in items if b.amended_by}
        found = dict(zip(amendments, await self._store.many(list(amendments.values())), strict=True))
        published = []
        for original in items:
            amendment = found.get(original.id)
            if amendment is not None and amendment.bound and amendment.state is not State.CANCELLED:
                if amendment.amends is not Amendment.RETRACTION:
                    corrected = replace(original, text_de=amendment.text_de, text_en=amendment.text_en)
                    published.append(corrected)
            elif original.state is not State.CANCELLED:
                published.append(original)
        return published
