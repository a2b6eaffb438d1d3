"""The retention lists (city file `retention:`): residents with no topics left, and residents who blocked
the bot or cannot be reached, each by since when. bot/privacy.py erases those whose period is over, through
Residents.erase_expired; city/residents.py keeps the lists as residents subscribe, leave and write again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from city.connection import RedisClient
from city.keys import Keys
from city.values import Resident


class Expiry(StrEnum):
    """Why a resident is erased without asking: the city's retention periods (city file `retention:`)."""

    UNSUBSCRIBED = "unsubscribed"  # no topics left for unsubscribed_days
    BLOCKED = "blocked"  # blocked the bot, or undeliverable, for blocked_days


class RetentionLists:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._lists = {
            Expiry.UNSUBSCRIBED: keys.retention_unsubscribed(),
            Expiry.BLOCKED: keys.retention_inactive(),
        }

    async def without_topics(self, resident: Resident, at: datetime) -> None:
        """From `at` (unless from earlier already) the resident has no topics: unsubscribed_days run."""
        await self._redis.zadd(self._lists[Expiry.UNSUBSCRIBED], {resident.ref: at.timestamp()}, nx=True)

    def subscribed(self, pipe: Any, resident: Resident) -> None:
        pipe.zrem(self._lists[Expiry.UNSUBSCRIBED], resident.ref)

    def blocked(self, pipe: Any, resident: Resident, at: datetime) -> None:
        pipe.zadd(self._lists[Expiry.BLOCKED], {resident.ref: at.timestamp()}, nx=True)

    def reactivated(self, pipe: Any, resident: Resident) -> None:
        pipe.zrem(self._lists[Expiry.BLOCKED], resident.ref)

    def forget(self, pipe: Any, resident: Resident) -> None:
        """Erasure: off every list."""
        for listed in self._lists.values():
            pipe.zrem(listed, resident.ref)

    async def move(self, old: Resident, new: Resident) -> None:
        """A group chat became a supergroup: its periods go on under the new id."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for listed in self._lists.values():
                pipe.zscore(listed, old.ref)
            since = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            for listed, score in zip(self._lists.values(), since, strict=True):
                if score is not None:
                    pipe.zadd(listed, {new.ref: score})
                pipe.zrem(listed, old.ref)
            await pipe.execute()

    async def expired(self, expiry: Expiry, before: datetime, limit: int) -> list[Resident]:
        """Residents whose period for `expiry` began before `before`, oldest first."""
        refs = await self._redis.zrangebyscore(
            self._lists[expiry], "-inf", before.timestamp(), start=0, num=limit
        )
        return [Resident.from_ref(str(ref)) for ref in refs]

    async def since(self, expiry: Expiry, resident: Resident) -> float | None:
        found = await self._redis.zscore(self._lists[expiry], resident.ref)
        return float(found) if found is not None else None

    async def tidy(self, expiry: Expiry, resident: Resident) -> None:
        """A stale entry (the resident subscribed or wrote again meanwhile) goes."""
        await self._redis.zrem(self._lists[expiry], resident.ref)
