"""The active lists: per channel, the broadcasts that have deliveries to send, most urgent first.

A broadcast's score is its priority times PRIORITY_SCALE plus its creation time in milliseconds, so that
alerts sort before news before digests, and the older before the newer within a priority. This module is
the only one that writes the lists or reads a score back; the store, the queue, the metrics, the
progress reporter and the command line all ask it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from broadcasts.model import Broadcast, Priority

# Above any creation time in milliseconds until the year 2286: time never outweighs a priority.
PRIORITY_SCALE = 10**13


@dataclass(frozen=True, slots=True)
class Listed:
    """A broadcast on a channel's active list, and the priority its place there encodes."""

    broadcast_id: str
    priority: Priority


def score(broadcast: Broadcast) -> int:
    # A correction or retraction goes one lane ahead of what it amends: an alert's ahead of every alert,
    # a news item's in the alerts' lane.
    lane = int(broadcast.priority) - (1 if broadcast.amends else 0)
    return lane * PRIORITY_SCALE + int(broadcast.created_at.timestamp() * 1000)


def priority_of(value: float) -> Priority:
    # Clamped, so that a list written by a newer version with a priority this one lacks still reads, and
    # an alert's correction (ahead of the alerts) counts as an alert.
    return Priority(max(min(int(value // PRIORITY_SCALE), max(Priority)), min(Priority)))


class ActiveLists:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def add(self, broadcast: Broadcast, channels: Sequence[Channel]) -> None:
        """Offer the broadcast to the senders of each channel, in its place by urgency."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in channels:
                pipe.zadd(self._keys.active(channel), {broadcast.id: score(broadcast)})
            await pipe.execute()

    async def remove(self, broadcast_id: str, channels: Sequence[Channel]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in channels:
                pipe.zrem(self._keys.active(channel), broadcast_id)
            await pipe.execute()

    async def ids(self, channel: Channel, limit: int | None = None) -> list[str]:
        """Broadcast ids with deliveries on the channel, most urgent first; all of them without `limit`."""
        end = -1 if limit is None else limit - 1
        return self.ids_from(await self._redis.zrange(self._keys.active(channel), 0, end))

    def read_in(self, pipe: Pipeline | ClusterPipeline, channel: Channel, limit: int) -> None:
        """The read of `ids`, queued on a pipeline that batches it with other commands (a sender's
        survey); `ids_from` turns its answer into ids."""
        pipe.zrange(self._keys.active(channel), 0, limit - 1)

    @staticmethod
    def ids_from(answer: Any) -> list[str]:
        return [str(member) for member in answer]

    async def listed(self, channel: Channel) -> list[Listed]:
        """Every broadcast on the channel's list with its priority, most urgent first."""
        return [
            Listed(broadcast_id, priority_of(value)) for broadcast_id, value in await self._scored(channel)
        ]

    async def everywhere(self) -> list[str]:
        """Broadcasts with deliveries on any channel, each once, most urgent first."""
        best: dict[str, float] = {}
        for channel in Channel:
            for broadcast_id, value in await self._scored(channel):
                best[broadcast_id] = min(value, best.get(broadcast_id, value))
        return sorted(best, key=lambda broadcast_id: (best[broadcast_id], broadcast_id))

    async def anywhere(self, broadcast_id: str) -> bool:
        """Whether any channel still lists the broadcast."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in Channel:
                pipe.zscore(self._keys.active(channel), broadcast_id)
            return any(found is not None for found in await pipe.execute())

    async def _scored(self, channel: Channel) -> list[tuple[str, float]]:
        found = await self._redis.zrange(self._keys.active(channel), 0, -1, withscores=True)
        return [(str(member), float(value)) for member, value in cast(list[tuple[Any, float]], found)]
