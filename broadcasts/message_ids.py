"""The platform's reference of what each recipient got from a broadcast, kept for a while: corrections
edit it in place and official warnings thread their updates below it.

Per broadcast and channel, one Redis hash under the broadcast's hash tag: chat id -> reference (Telegram
message ids, a WhatsApp wamid; opaque here, see the channels in bot/). The chat id itself is the field: a
follow-up must reach the chat, so it is kept anyway, and a keyed hash of it beside would only add bytes.

- **Written by the senders**, in the same script that settles a batch (broadcasts/queue.py), and only for
  a broadcast given a retention: `keep(broadcast_id, until, now)`. The engine gives every news or alert the
  city's `correction_days` when it starts sending (`keep_at_least`, which leaves a longer one set
  earlier); a caller with other needs (an official warning: while active, and a day after) calls `keep`
  before or while it sends, and may move it later. Digests and a resident's own texts keep nothing.
- **Read** page by page with `recipients`, by the planner of a broadcast that `follows` another: its
  audience is exactly who got the original, each delivery carrying the reference (Delivery.reply_to).
- **A follow-up** is a broadcast with `follows=<id of the earlier one>` (broadcasts/model.py), created,
  approved and enqueued like any other: the planner queues one delivery per recipient of the earlier one
  on each channel, with `Delivery.reply_to` set, and the channels send it as a reply (Telegram
  `reply_parameters`, sent alone if the resident deleted the original) or a quote (WhatsApp `context`).
  Its own deliveries' references are kept too, under its own id. With `amends` set (a correction or
  retraction) it also changes the original in place where the messenger can edit.
- **Erased** with the resident (`forget`, wired into Residents' forgetters in bot/assembly.py), with the
  broadcast's delivery records (`drop`), and by Redis itself at the end of the retention (EXPIRE).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Resident

# The field of a broadcast's progress hash with the end of its retention (epoch seconds); the settle
# script reads it and records nothing without it.
UNTIL_FIELD = "ids_until"
PAGE = 1000


class MessageIds:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def keep(self, broadcast_id: str, until: datetime, now: datetime) -> None:
        """Keep the references of the broadcast's deliveries until `until`: those recorded already, and
        those to come. A later call moves the end, either way. `now` is the service's clock: the end is
        one of its times, which need not be the Redis server's."""
        stamp = int(until.timestamp())
        left = max(1, stamp - int(now.timestamp()))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.broadcast_progress(broadcast_id), UNTIL_FIELD, str(stamp))
            for channel in Channel:
                pipe.expire(self._keys.broadcast_message_ids(broadcast_id, channel), left)
            pipe.zadd(self._keys.message_ids_index(), {broadcast_id: stamp})
            await pipe.execute()

    async def keep_at_least(self, broadcast_id: str, until: datetime, now: datetime) -> None:
        """`keep`, unless a later end is set already (a warning's, set before it was sent)."""
        current = await self.until(broadcast_id)
        if current is None or current < until:
            await self.keep(broadcast_id, until, now)

    async def until(self, broadcast_id: str) -> datetime | None:
        """Until when the broadcast's references are kept; None if they never were."""
        value = await self._redis.hget(self._keys.broadcast_progress(broadcast_id), UNTIL_FIELD)
        return datetime.fromtimestamp(int(value), UTC) if value else None

    async def ref(self, broadcast_id: str, resident: Resident) -> str | None:
        """What one resident got from the broadcast, if it is still known."""
        key = self._keys.broadcast_message_ids(broadcast_id, resident.channel)
        value = await self._redis.hget(key, resident.chat_id)
        return str(value) if value else None

    async def recipients(
        self, broadcast_id: str, channel: Channel, cursor: int = 0, count: int = PAGE
    ) -> tuple[int, list[tuple[str, str]]]:
        """One page of (chat id, reference) of those who got the broadcast on a channel, and the cursor of
        the next page (0 after the last). A resident erased since is not among them."""
        key = self._keys.broadcast_message_ids(broadcast_id, channel)
        cursor, found = await self._redis.hscan(key, cursor=cursor, count=count)
        return int(cursor), [(str(chat), str(ref)) for chat, ref in cast(dict[str, str], found).items()]

    async def counts(self, broadcast_id: str) -> dict[Channel, int]:
        """How many recipients' references are kept, per channel."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in Channel:
                pipe.hlen(self._keys.broadcast_message_ids(broadcast_id, channel))
            sizes = await pipe.execute()
        return {channel: int(size) for channel, size in zip(Channel, sizes, strict=True) if size}

    async def forget(self, resident: Resident) -> None:
        """An erasure: the resident's references go from every broadcast that keeps any. The index holds
        the broadcasts of the last `correction_days` (`prune`), a few hundred at most: one pipeline."""
        kept = [str(member) for member in await self._redis.zrange(self._keys.message_ids_index(), 0, -1)]
        if not kept:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for broadcast_id in kept:
                pipe.hdel(self._keys.broadcast_message_ids(broadcast_id, resident.channel), resident.chat_id)
            await pipe.execute()

    async def prune(self, now: datetime) -> None:
        """Unlist the broadcasts whose references have ended (Redis deleted them)."""
        await self._redis.zremrangebyscore(self._keys.message_ids_index(), "-inf", now.timestamp())

    async def drop(self, broadcast_id: str) -> None:
        """Every reference of the broadcast (its delivery records end)."""
        keys = [self._keys.broadcast_message_ids(broadcast_id, channel) for channel in Channel]
        await self._redis.delete(*keys)
        await self._redis.zrem(self._keys.message_ids_index(), broadcast_id)
