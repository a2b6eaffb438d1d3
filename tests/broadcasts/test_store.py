"""The broadcast store on its own: statuses a platform reports later count through its API only."""

from __future__ import annotations

import redis.asyncio as aioredis

from broadcasts.model import Broadcast
from broadcasts.progress import ChannelProgress
from broadcasts.store import BroadcastStore, Reported
from city.keys import Keys
from city.values import Channel
from tests.conftest import ManualClock


async def test_reported_statuses_count_per_channel_and_only_for_a_broadcast_that_exists(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    keys = Keys(key_prefix)
    store = BroadcastStore(redis, keys)
    draft = Broadcast(id="", topics=("verkehr",), text_de="B7", author="presse-redaktion", created_at=clock())
    broadcast = await store.create(draft)
    for reported in (Reported.DELIVERED, Reported.DELIVERED, Reported.READ, Reported.UNDELIVERED):
        assert await store.count_reported(broadcast.id, Channel.WHATSAPP, reported)
    progress = await store.progress(broadcast.id)
    assert progress.channels == {Channel.WHATSAPP: ChannelProgress(delivered=2, read=1, undelivered=1)}

    assert not await store.count_reported("404", Channel.WHATSAPP, Reported.READ)
    assert not await redis.exists(keys.broadcast_progress("404"))
