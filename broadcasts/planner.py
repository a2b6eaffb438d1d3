"""Turns a broadcast's audience into deliveries, streaming: memory stays flat in the audience size.

Subscribers are read with an SSCAN cursor per topic, channel and delivery mode: news goes to those who
want every item at once, alerts to everyone, and a digest to those who chose one a day, each with a
text of their own. Each batch is queued by one script
that also saves the cursor, so planning resumes exactly where a dead process stopped. A set of keyed
hashes of queued recipients gives each resident one message even when they follow several of the
broadcast's topics (SSCAN may also return a member twice); it is deleted once planning is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Resident

from broadcasts.digest import DigestRun
from broadcasts.model import Broadcast, Priority
from broadcasts.queue import CHAT_FIELD, LANGUAGE_FIELD, TEXT_FIELD, open_stream

log = logging.getLogger(__name__)

SCAN_BATCH = 1000
# A digest composes a text per reader, so a page of its audience is queued in slices of this many: each
# stays within a few milliseconds, and the senders sharing the event loop keep their reserved times. A
# plain broadcast's page is queued whole: smaller pieces would let the senders catch up with planning
# and claim half-empty batches.
DIGEST_SLICE = 200
PLAN_DONE = "done"
# What one delivery is queued with: the recipient's keyed hash, chat, language, and a text of its own.
Entry = tuple[str, str, str, str]

# KEYS: seen, queue, plan, progress, broadcast. ARGV: plan field, next cursor, total field, then
# (hash, chat, language, own text or "")*. Answers -1 for a cancelled broadcast, whose keys must not
# come back. The entry's field names are the delivery queue's (broadcasts/queue.py), formatted in.
_QUEUE_BATCH = f"""
if redis.call('HGET', KEYS[5], 'state') == 'cancelled' then return -1 end
local added = 0
for i = 4, #ARGV, 4 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    if ARGV[i + 3] == '' then
      redis.call('XADD', KEYS[2], '*', '{CHAT_FIELD}', ARGV[i + 1], '{LANGUAGE_FIELD}', ARGV[i + 2])
    else
      redis.call('XADD', KEYS[2], '*', '{CHAT_FIELD}', ARGV[i + 1], '{LANGUAGE_FIELD}', ARGV[i + 2],
                 '{TEXT_FIELD}', ARGV[i + 3])
    end
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
        redis: RedisClient,
        keys: Keys,
        hasher: Callable[[str], str],
        city: Callable[[], City],
        channels: Sequence[Channel],
        *,
        digests: Callable[[Broadcast], Awaitable[DigestRun]],
    ) -> None:
        self._digests = digests
        self._redis = redis
        self._keys = keys
        self._hash = hasher
        self._city = city
        self._channels = tuple(channels)
        self._queue_batch = redis.register_script(_QUEUE_BATCH)

    async def prepare(self, broadcast_id: str) -> None:
        """Create each channel's delivery stream and its consumer group before anything is queued."""
        for channel in self._channels:
            await open_stream(self._redis, self._keys, broadcast_id, channel)

    async def plan(self, broadcast: Broadcast) -> int:
        """Queue every recipient not yet queued; returns how many this call added."""
        city = self._city()
        topics = [t.id for t in city.topics] if broadcast.all_topics else list(broadcast.topics)
        digest = await self._digests(broadcast) if broadcast.priority is Priority.DIGEST else None
        modes = {Priority.ALERT: (False, True), Priority.NEWS: (False,), Priority.DIGEST: (True,)}
        added = 0
        for channel in self._channels:
            for topic_id in topics:
                for daily in modes[broadcast.priority]:
                    added += await self._plan_audience(broadcast, topic_id, channel, daily, digest)
            if channel is Channel.TELEGRAM and digest is None:
                added += await self._plan_mirrors(broadcast, topics)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.broadcast_progress(broadcast.id), "planned", "1")
            pipe.delete(self._keys.broadcast_seen(broadcast.id))
            await pipe.execute()
        return added

    async def _plan_audience(
        self, broadcast: Broadcast, topic_id: str, channel: Channel, daily: bool, digest: DigestRun | None
    ) -> int:
        field = f"{topic_id}:{channel.value}{':daily' if daily else ''}"
        audience = (self._keys.audience_daily if daily else self._keys.audience)(topic_id, channel)
        plan_key = self._keys.broadcast_plan(broadcast.id)
        saved = await self._redis.hget(plan_key, field)
        if saved == PLAN_DONE:
            return 0
        cursor = int(saved or 0)
        added = 0
        while True:
            page = cursor
            cursor, members = await self._redis.sscan(audience, cursor=page, count=SCAN_BATCH)
            chats = [str(m) for m in members]
            size = SCAN_BATCH if digest is None else DIGEST_SLICE
            for start in range(0, max(len(chats), 1), size):
                part = chats[start : start + size]
                if digest is None:
                    languages = await self._languages(broadcast, channel, part)
                    entries = [
                        (self._hash(f"{channel.value}:{chat}"), chat, language, "")
                        for chat, language in zip(part, languages, strict=True)
                    ]
                else:
                    entries = await self._digest_entries(digest, channel, part)
                # Until its last slice is queued, planning resumes at this page; the seen set keeps
                # anyone already queued from this page from being queued twice.
                if start + size < len(chats):
                    resume_at = str(page)
                else:
                    resume_at = PLAN_DONE if cursor == 0 else str(cursor)
                added += await self._queue(
                    broadcast.id, channel=channel, plan_field=field, next_cursor=resume_at, entries=entries
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
            entries=[(self._hash(f"{Channel.TELEGRAM.value}:{chat}"), chat, "", "") for chat in mirrors],
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

    async def _digest_entries(self, digest: DigestRun, channel: Channel, chats: Sequence[str]) -> list[Entry]:
        """Each resident's own digest, one entry per message; nothing for those with nothing new."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                resident = Resident(channel, chat)
                pipe.hmget(self._keys.resident(resident), ["language", "daily_since"])
                pipe.smembers(self._keys.resident_topics(resident))
            found = await pipe.execute()
        entries: list[Entry] = []
        for index, chat in enumerate(chats):
            (language, since), topics = found[2 * index], found[2 * index + 1]
            parts = digest.parts(topics, language or "", datetime.fromisoformat(since) if since else None)
            recipient = self._hash(f"{channel.value}:{chat}")
            for number, text in enumerate(parts):
                # The recipient's hash marks the first part; the others are told apart by their number.
                entries.append(
                    (recipient if number == 0 else f"{recipient}:{number}", chat, language or "", text)
                )
        return entries

    async def _queue(
        self,
        broadcast_id: str,
        *,
        channel: Channel,
        plan_field: str,
        next_cursor: str,
        entries: Sequence[Entry],
    ) -> int:
        args: list[str] = [plan_field, next_cursor, f"total:{channel.value}"]
        for entry in entries:
            args += entry
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
