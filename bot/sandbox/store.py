"""The sandbox's chats in Redis, under the sandbox's own key prefix, so that the page shows them again
after a reload or a restart: what the test people typed and what they got, as their phones would.

Only the sandbox keeps these (loopback only, no messenger credentials, made-up people). The list is
bounded like the page's outbox; an erased sandbox resident's chat goes with the rest of their data; a
file (the /statistik chart) is kept by name only, its content lasts as long as the process.
"""

from __future__ import annotations

import json
from typing import Any, cast

from bot.sandbox.event import Event
from city.connection import RedisClient
from city.keys import Keys

MAX_STORED = 5000


class ChatStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._list = keys.sandbox_outbox()
        self._closed = keys.sandbox_closed()

    async def append(self, event: Event) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._list, json.dumps(event.as_json(with_content=False)))
            pipe.ltrim(self._list, -MAX_STORED, -1)
            await pipe.execute()

    async def load(self) -> tuple[list[Event], set[str]]:
        """Every stored message, oldest first, and the chats whose person "blocked the bot"."""
        stored = cast(list[str], await self._redis.lrange(self._list, 0, -1))
        events = [Event.from_json(_object(line)) for line in stored]
        closed = cast(set[str], await self._redis.smembers(self._closed))
        return events, set(closed)

    async def close(self, chat: str, closed: bool) -> None:
        if closed:
            await self._redis.sadd(self._closed, chat)
        else:
            await self._redis.srem(self._closed, chat)

    async def forget(self, chat: str) -> None:
        """Drop one chat's messages (its person was erased); the other chats keep their order."""
        stored = cast(list[str], await self._redis.lrange(self._list, 0, -1))
        kept = [line for line in stored if _object(line).get("chat") != chat]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._list)
            if kept:
                pipe.rpush(self._list, *kept)
            pipe.srem(self._closed, chat)
            await pipe.execute()


def _object(line: str) -> dict[str, Any]:
    value = json.loads(line)
    return value if isinstance(value, dict) else {}
