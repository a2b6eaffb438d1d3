"""The control channel: how one process (or `stadtfunk reload`) reaches every running service process.

Two announcements exist: the city file was changed (every process reads it again) and the schedule was
changed (every process re-arms its timer, so the one that is free wakes on time). Both only wake or
refresh; Redis stays the truth, so a missed announcement costs at most one upkeep interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum

from redis.exceptions import RedisError

from city.connection import RedisClient
from city.keys import Keys

log = logging.getLogger(__name__)

POLL_S = 0.2


class Announcement(StrEnum):
    RELOAD = "reload"
    SCHEDULE_CHANGED = "schedule"


class ControlChannel:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._channel = keys.control()

    async def announce(self, announcement: Announcement) -> int:
        """Publish to every listening process; returns how many received it."""
        return int(await self._redis.publish(self._channel, announcement.value))

    async def listen(
        self, stopping: asyncio.Event, on: Mapping[Announcement, Callable[[], Awaitable[object]]]
    ) -> None:
        """Run each announcement's action as it arrives, until `stopping` is set."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        try:
            while not stopping.is_set():
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
                except RedisError as exc:
                    log.error("control channel failed: %s", type(exc).__name__)
                    await asyncio.sleep(POLL_S)
                    continue
                if message is None:
                    continue
                try:
                    action = on.get(Announcement(message.get("data")))
                except ValueError:
                    continue  # not ours; a newer release may announce more
                if action is not None:
                    await action()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
