"""The durable delivery queue: one Redis stream per broadcast and channel, shared by a consumer group.

A delivery is claimed by reading it into a sender's pending list, marked "sending" right before the
platform is called, and acknowledged and deleted once its outcome is known. A sender that dies leaves
its claimed deliveries pending; they are resumed by a restart under the same worker name, or
reclaimed by a live sender once the dead one's heartbeat is old. Those still marked "sending" may
have reached the resident: they are sent again (nothing is lost) and counted as maybe duplicated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.keys import Keys
from broadcasts.planner import GROUP
from handlers.values import Channel

# Aggregate daily counters are kept a little over a year (as bot/residents.py keeps its own).
DAILY_STATS_TTL_S = 400 * 24 * 3600
# A sender whose heartbeat is older than this is presumed dead and its pending deliveries reclaimed.
DEAD_AFTER_S = 15.0


# Acknowledge, delete and unmark entries and count their outcomes, atomically and only once: an entry
# counts only if this call acknowledged it, so a call the client retried (the answer was lost with the
# connection) counts nothing twice. KEYS: stream, sending set, progress. ARGV: group, channel suffix,
# then (id, outcome, maybe sent 0/1) per entry. Answers the counts it added, as field, count pairs.
_SETTLE = """
local counts, order = {}, {}
local function count(field)
  if not counts[field] then counts[field] = 0; order[#order + 1] = field end
  counts[field] = counts[field] + 1
end
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    redis.call('XDEL', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    count(ARGV[i + 1] .. ':' .. ARGV[2])
    if ARGV[i + 2] == '1' then count('maybe_duplicate:' .. ARGV[2]) end
  end
end
local added = {}
for _, field in ipairs(order) do
  redis.call('HINCRBY', KEYS[3], field, counts[field])
  added[#added + 1] = field
  added[#added + 1] = counts[field]
end
return added
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    broadcast_id: str
    entry_id: str
    chat_id: str
    language: str  # "" for German, "en" for English
    maybe_sent: bool = False  # claimed from a dead sender while marked "sending"
    attempt: int = 0  # failed tries so far in this process (429s, 5xx)
    text: str | None = None  # a text of its own (a resident's digest) instead of the broadcast's


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one send came to, for the counters: sent, failed, blocked or retired."""

    delivery: Delivery
    outcome: str


class DeliveryQueue:
    def __init__(self, redis: aioredis.Redis, keys: Keys, channel: Channel, worker: str) -> None:
        self._redis = redis
        self._settle = redis.register_script(_SETTLE)
        self._keys = keys
        self.channel = channel
        self.worker = worker

    async def active(self, limit: int = 32) -> list[str]:
        """Broadcast ids with deliveries on this channel, most urgent first."""
        return [str(m) for m in await self._redis.zrange(self._keys.active(self.channel), 0, limit - 1)]

    async def claim(self, broadcast_id: str, count: int) -> list[Delivery]:
        """New deliveries for this worker."""
        return await self._read(broadcast_id, ">", count)

    async def resume(self, broadcast_id: str, after: str, count: int) -> list[Delivery]:
        """Deliveries this worker claimed before (a restart under the same name, or reclaimed ones)."""
        return await self._read(broadcast_id, after, count)

    async def _read(self, broadcast_id: str, start: str, count: int) -> list[Delivery]:
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        try:
            answer = await self._redis.xreadgroup(GROUP, self.worker, {stream: start}, count=count)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # cancelled: the stream is gone
                return []
            raise
        # RESP2 answers [[stream, [(id, fields), ...]]]; deleted entries come back with no fields.
        entries: list[tuple[str, dict[str, str] | None]] = cast(Any, answer)[0][1] if answer else []
        if start != ">":
            return await self._with_marks(broadcast_id, entries)
        return [
            Delivery(broadcast_id, entry_id, f["c"], f.get("l", ""), text=f.get("t"))
            for entry_id, f in entries
            if f
        ]

    async def _with_marks(
        self, broadcast_id: str, entries: Sequence[tuple[str, dict[str, str] | None]]
    ) -> list[Delivery]:
        live = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not live:
            return []
        sending = self._keys.broadcast_sending(broadcast_id, self.channel)
        marks = await self._redis.smismember(sending, [entry_id for entry_id, _ in live])
        return [
            Delivery(
                broadcast_id,
                entry_id,
                fields["c"],
                fields.get("l", ""),
                maybe_sent=bool(mark),
                text=fields.get("t"),
            )
            for (entry_id, fields), mark in zip(live, marks, strict=True)
        ]

    async def mark_sending(self, broadcast_id: str, deliveries: Sequence[Delivery]) -> None:
        await self._redis.sadd(
            self._keys.broadcast_sending(broadcast_id, self.channel), *[d.entry_id for d in deliveries]
        )

    async def settle(
        self,
        broadcast_id: str,
        settlements: Sequence[Settlement],
        unmark: Sequence[Delivery] = (),
        *,
        day: date | None = None,
    ) -> None:
        """Acknowledge and forget finished deliveries and count their outcomes, in one round trip.

        `unmark` are deliveries whose send was refused (429, 5xx) and will be retried: not sent, so not
        "maybe sent" if this process dies before the retry.
        """
        if unmark:
            await self._redis.srem(
                self._keys.broadcast_sending(broadcast_id, self.channel), *[d.entry_id for d in unmark]
            )
        if not settlements:
            return
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        progress = self._keys.broadcast_progress(broadcast_id)
        sending = self._keys.broadcast_sending(broadcast_id, self.channel)
        args: list[str] = [GROUP, self.channel.value]
        for settlement in settlements:
            flag = "1" if settlement.delivery.maybe_sent else "0"
            args += [settlement.delivery.entry_id, settlement.outcome, flag]
        added = cast(list[Any], await self._settle(keys=[stream, sending, progress], args=args))
        if day is not None and added:
            # The city's daily figures, for /statistik: another slot, so outside the script.
            daily = self._keys.daily_stats(day)
            async with self._redis.pipeline(transaction=False) as pipe:
                for field, count in zip(added[::2], added[1::2], strict=True):
                    pipe.hincrby(daily, field.decode() if isinstance(field, bytes) else field, int(count))
                pipe.expire(daily, DAILY_STATS_TTL_S)
                await pipe.execute()

    async def release(self, broadcast_id: str, deliveries: Iterable[Delivery]) -> None:
        """Give claimed but unsent deliveries back to the queue (a clean shutdown), as new entries."""
        deliveries = list(deliveries)
        if not deliveries:
            return
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        async with self._redis.pipeline(transaction=True) as pipe:
            for delivery in deliveries:
                fields: dict[Any, Any] = {"c": delivery.chat_id, "l": delivery.language}
                if delivery.text is not None:
                    fields["t"] = delivery.text
                pipe.xadd(stream, fields)
            ids = [d.entry_id for d in deliveries]
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
            await pipe.execute()

    async def remaining(self, broadcast_id: str) -> int:
        """Deliveries not yet settled (queued or claimed)."""
        return int(await self._redis.xlen(self._keys.broadcast_queue(broadcast_id, self.channel)))

    async def heartbeat(self, now: float) -> None:
        await self._redis.hset(self._keys.workers(self.channel), self.worker, repr(now))

    async def forget_worker(self) -> None:
        await self._redis.hdel(self._keys.workers(self.channel), self.worker)

    async def dead_workers(self, now: float) -> set[str]:
        """Senders on this channel whose heartbeat is older than DEAD_AFTER_S."""
        beats = cast(dict[str, str], await self._redis.hgetall(self._keys.workers(self.channel)))
        return {
            name for name, seen in beats.items() if name != self.worker and now - float(seen) > DEAD_AFTER_S
        }

    async def reclaim(self, broadcast_id: str, dead: set[str]) -> int:
        """Take over the pending deliveries of dead senders; `resume` then reads them with their marks."""
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        try:
            consumers: list[dict[str, Any]] = await self._redis.xinfo_consumers(stream, GROUP)
        except ResponseError:  # no such stream or group: cancelled or finished meanwhile
            return 0
        taken = 0
        for consumer in consumers:
            name = str(consumer["name"])
            if name not in dead:
                continue
            while pending := await self._redis.xpending_range(
                stream, GROUP, "-", "+", 1000, consumername=name
            ):
                ids: list[Any] = [p["message_id"] for p in pending]
                await self._redis.xclaim(stream, GROUP, self.worker, 0, ids, justid=True)
                taken += len(ids)
            await self._redis.xgroup_delconsumer(stream, GROUP, name)
        return taken

    async def bury(self, dead: set[str]) -> None:
        """Forget the heartbeats of dead senders once their work has been reclaimed everywhere."""
        if dead:
            await self._redis.hdel(self._keys.workers(self.channel), *dead)
