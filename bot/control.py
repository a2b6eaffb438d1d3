"""The control channel: how one process (or `stadtfunk reload`) reaches every running service process.

Two announcements exist: the city file was changed (every process reads it again) and the schedule was
changed (every process re-arms its timer, so the one that is free wakes on time). Both only wake or
refresh; Redis stays the truth, so a missed announcement costs at most one upkeep interval.

On a Redis Cluster the channel is a sharded one (SPUBLISH, SSUBSCRIBE; Redis 7): every listener sits on
the primary that owns the channel's slot, so the count of receivers `stadtfunk reload` prints is the
whole cluster's, where a plain PUBLISH would count only the node it reached. A listener that loses its
server (a failover) subscribes again, to whichever primary serves the channel by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub, RedisCluster

from city.connection import REDIS_ERRORS, RedisClient
from city.keys import Keys

log = logging.getLogger(__name__)

POLL_S = 0.2
# After losing the server, how long a listener waits before it subscribes again.
RESUBSCRIBE_S = 0.5

Actions = Mapping["Announcement", Callable[[], Awaitable[object]]]


class Announcement(StrEnum):
    RELOAD = "reload"
    SCHEDULE_CHANGED = "schedule"


class ControlChannel:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._channel = keys.control()

    async def announce(self, announcement: Announcement) -> int:
        """Publish to every listening process; returns how many received it."""
        if isinstance(self._redis, RedisCluster):
            return int(await self._redis.spublish(self._channel, announcement.value))
        return int(await self._redis.publish(self._channel, announcement.value))

    async def listen(self, stopping: asyncio.Event, on: Actions) -> None:
        """Run each announcement's action as it arrives, until `stopping` is set; rides out failovers."""
        while not stopping.is_set():
            try:
                await self._listen(stopping, on)
            except REDIS_ERRORS as exc:
                log.error("control channel failed, subscribing again: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=RESUBSCRIBE_S)

    async def _listen(self, stopping: asyncio.Event, on: Actions) -> None:
        redis = self._redis
        if isinstance(redis, RedisCluster):
            # A keyed read in the channel's slot refreshes a stale map of the cluster after a failover
            # (the client learns it on an error); subscribing alone would keep asking the dead primary.
            await redis.exists(self._channel)
            pubsub: PubSub = redis.pubsub()
            await pubsub.ssubscribe(self._channel)
        else:
            pubsub = redis.pubsub()
            await pubsub.subscribe(self._channel)
        try:
            while not stopping.is_set():
                message = await _next(pubsub)
                if message is None:
                    continue
                try:
                    action = on.get(Announcement(str(message.get("data"))))
                except ValueError:
                    continue  # not ours; a newer release may announce more
                if action is not None:
                    await action()
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _next(pubsub: PubSub) -> Any:
    """The next message (a dict), or None when none came within POLL_S."""
    if isinstance(pubsub, ClusterPubSub):
        return await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=POLL_S)
    return await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
