"""Turns a broadcast's audience into deliveries, streaming: memory stays flat in the audience size.

Subscribers are read with an SSCAN cursor per topic and channel. Each batch is queued by one script
that also saves the cursor, so planning resumes exactly where a dead process stopped. A set of keyed
hashes of queued recipients gives each resident one message even when they follow several of the
broadcast's topics (SSCAN may also return a member twice); it is deleted once planning is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.city import City
from bot.keys import Keys
from broadcasts.model import Broadcast
from handlers.values import Channel, Resident

log = logging.getLogger(__name__)

GROUP = "senders"
SCAN_BATCH = 1000
PLAN_DONE = "done"

# KEYS: seen, queue, plan, progress, broadcast. ARGV: plan field, next cursor, total field, then
# (hash, chat, language)*. Answers -1 for a cancelled broadcast, whose keys must not come back.
_QUEUE_BATCH = """
if redis.call('HGET', KEYS[5], 'state') == 'cancelled' then return -1 end
local added = 0
for i = 4, #ARGV, 3 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[2], '*', 'c', ARGV[i + 1], 'l', ARGV[i + 2])
    added = added + 1
  end
end
redis.call('HINCRBY', KEYS[4], ARGV[3], added)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return added
"""


class PlanningCancelled(Exception):
    """The broadcast was cancelled while its audience was being planned."""


class Planner:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        hasher: Callable[[str], str],
        city: Callable[[], City],
        channels: Sequence[Channel],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._hash = hasher
        self._city = city
        self._channels = tuple(channels)
        self._queue_batch = redis.register_script(_QUEUE_BATCH)

    async def prepare(self, broadcast_id: str) -> None:
        """Create each channel's delivery stream and its consumer group before anything is queued."""
        for channel in self._channels:
            try:
                await self._redis.xgroup_create(
                    self._keys.broadcast_queue(broadcast_id, channel), GROUP, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def plan(self, broadcast: Broadcast) -> int:
        """Queue every recipient not yet queued; returns how many this call added."""
        city = self._city()
        topics = [t.id for t in city.topics] if broadcast.all_topics else list(broadcast.topics)
        added = 0
        for channel in self._channels:
            for topic_id in topics:
                added += await self._plan_audience(broadcast, topic_id, channel)
            if channel is Channel.TELEGRAM:
                added += await self._plan_mirrors(broadcast, topics)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.broadcast_progress(broadcast.id), "planned", "1")
            pipe.delete(self._keys.broadcast_seen(broadcast.id))
            await pipe.execute()
        return added

    async def _plan_audience(self, broadcast: Broadcast, topic_id: str, channel: Channel) -> int:
        field = f"{topic_id}:{channel.value}"
        plan_key = self._keys.broadcast_plan(broadcast.id)
        saved = await self._redis.hget(plan_key, field)
        if saved == PLAN_DONE:
            return 0
        cursor = int(saved or 0)
        added = 0
        while True:
            cursor, members = await self._redis.sscan(
                self._keys.audience(topic_id, channel), cursor=cursor, count=SCAN_BATCH
            )
            chats = [str(m) for m in members]
            languages = await self._languages(broadcast, channel, chats)
            next_cursor = PLAN_DONE if cursor == 0 else str(cursor)
            added += await self._queue(
                broadcast.id,
                channel=channel,
                plan_field=field,
                next_cursor=next_cursor,
                chats=chats,
                languages=languages,
            )
            if cursor == 0:
                return added

    async def _plan_mirrors(self, broadcast: Broadcast, topics: Sequence[str]) -> int:
        """Topics may also appear in a public Telegram channel where the bot is an administrator."""
        city = self._city()
        mirrors = sorted({t.mirror_channel for t in city.topics if t.id in topics and t.mirror_channel})
        if not mirrors:
            return 0
        return await self._queue(
            broadcast.id,
            channel=Channel.TELEGRAM,
            plan_field="mirrors",
            next_cursor=PLAN_DONE,
            chats=mirrors,
            languages=[""] * len(mirrors),
        )

    async def _languages(self, broadcast: Broadcast, channel: Channel, chats: Sequence[str]) -> list[str]:
        """Only a broadcast with an English text needs to know who reads English."""
        if broadcast.text_en is None or not chats:
            return [""] * len(chats)
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                pipe.hget(self._keys.resident(Resident(channel, chat)), "language")
            found = await pipe.execute()
        return ["en" if language == "en" else "" for language in found]

    async def _queue(
        self,
        broadcast_id: str,
        *,
        channel: Channel,
        plan_field: str,
        next_cursor: str,
        chats: Sequence[str],
        languages: Sequence[str],
    ) -> int:
        args: list[str] = [plan_field, next_cursor, f"total:{channel.value}"]
        for chat, language in zip(chats, languages, strict=True):
            args += [self._hash(f"{channel.value}:{chat}"), chat, language]
        keys = [
            self._keys.broadcast_seen(broadcast_id),
            self._keys.broadcast_queue(broadcast_id, channel),
            self._keys.broadcast_plan(broadcast_id),
            self._keys.broadcast_progress(broadcast_id),
            self._keys.broadcast(broadcast_id),
        ]
        added = int(await self._queue_batch(keys=keys, args=args))
        if added < 0:
            raise PlanningCancelled(broadcast_id)
        return added
