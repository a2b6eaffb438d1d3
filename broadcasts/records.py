"""Delivery records that end: a broadcast's delivery bookkeeping is deleted `delivery_records_days` (city
file `retention:`) after it began sending.

Its delivery queues hold chat ids (and a digest's texts) until each delivery settles; a broadcast paused
and forgotten would keep them for ever. So once the period has passed, a broadcast still sending or
paused is cancelled (a month-old message is no longer news), and what remains of its deliveries is
deleted: queues, "sending" marks, planning cursors and dedupe sets, the platform's media ids and message
ids. The
broadcast itself (text, author, state) and its counters stay: they hold no resident data.

Every broadcast is listed for this at creation (BroadcastStore.create), by when to look at it; a look
that finds it not yet due lists it again for later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel

from broadcasts.message_ids import MessageIds
from broadcasts.model import TERMINAL, InvalidTransition, State
from broadcasts.store import BroadcastStore

# Broadcasts looked at per sweep: a city creates a few dozen a day.
BATCH = 200
RUNNING = frozenset({State.QUEUED, State.SENDING, State.PAUSED})


class DeliveryRecords:
    def __init__(self, redis: RedisClient, keys: Keys, store: BroadcastStore) -> None:
        self._redis = redis
        self._keys = keys
        self._store = store

    async def expire(
        self, now: datetime, days: int, cancel: Callable[[str], Awaitable[object]]
    ) -> tuple[int, list[str]]:
        """Delete the delivery records due by `now`; `cancel` stops a broadcast still running (the engine's
        cancel). Returns how many broadcasts' records were deleted, and the ids cancelled for it."""
        cutoff = now - timedelta(days=days)
        await MessageIds(self._redis, self._keys).prune(now)
        listed = self._keys.retention_records()
        due = await self._redis.zrangebyscore(listed, "-inf", cutoff.timestamp(), start=0, num=BATCH)
        purged, cancelled = 0, []
        for member in due:
            broadcast_id = str(member)
            state = await self._store.state(broadcast_id)
            began = (await self._store.progress(broadcast_id)).started_at if state is not None else None
            if state is not None and state not in TERMINAL and state not in RUNNING:
                # Not sent yet (a draft, or scheduled): its period begins when it is sent.
                await self._redis.zadd(listed, {broadcast_id: now.timestamp()})
                continue
            if began is not None and began > cutoff:
                await self._redis.zadd(listed, {broadcast_id: began.timestamp()})
                continue
            if state in RUNNING:
                try:
                    await cancel(broadcast_id)
                    cancelled.append(broadcast_id)
                except InvalidTransition:
                    pass  # it finished (or was cancelled) meanwhile

            await self._purge(broadcast_id)
            await self._redis.zrem(listed, broadcast_id)
            purged += 1
        return purged, cancelled

    async def list_existing(self) -> None:
        """List the broadcasts created before delivery records ended (schema 1), by their creation."""
        listed = self._keys.retention_records()
        await self._redis.zunionstore(listed, [listed, self._keys.broadcast_index()], aggregate="MIN")

    async def _purge(self, broadcast_id: str) -> None:
        keys: Sequence[str] = [
            self._keys.broadcast_plan(broadcast_id),
            self._keys.broadcast_planner(broadcast_id),
            self._keys.broadcast_seen(broadcast_id),
            self._keys.broadcast_erased(broadcast_id),
            self._keys.broadcast_media(broadcast_id),
            *(self._keys.broadcast_queue(broadcast_id, channel) for channel in Channel),
            *(self._keys.broadcast_sending(broadcast_id, channel) for channel in Channel),
            # Its recipients' message ids, in case `correction_days` outlasts the delivery records.
            *(self._keys.broadcast_message_ids(broadcast_id, channel) for channel in Channel),
        ]
        await self._store.deactivate(broadcast_id, list(Channel))
        await self._redis.delete(*keys)
        # Its picture goes with the last broadcast that shows it.
        if (broadcast := await self._store.get(broadcast_id)) is not None and broadcast.image:
            await self._store.images.release(broadcast.image, broadcast_id)
        await self._redis.zrem(self._keys.message_ids_index(), broadcast_id)
