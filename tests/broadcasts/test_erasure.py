"""Erasure and the engine: a resident erased while a broadcast is paused leaves no queued delivery behind,
whether /loeschen or `stadtfunk erase-resident` erased them, and resuming sends them nothing; nor does a
delivery a sender holds for a retry, nor one a planner read from the audience just before."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.assembly import residents_for
from bot.storage.client import Storage
from bot.storage.idhash import IdHasher
from broadcasts.model import State
from broadcasts.progress import ChannelProgress
from broadcasts.queue import GROUP
from broadcasts.queue_scripts import CHAT_FIELD
from city.keys import Keys
from city.values import Channel, Resident
from tests.bot.cli.test_cli import stadtfunk
from tests.broadcasts.conftest import CITY, SECRET, Rig, build_rig
from tests.conftest import ManualClock
from tests.traces import traces

# Ids as long as Telegram's, so that no counter, time or schema version in Redis reads like one of them.
A, B, C = "7000000001", "7000000002", "7000000003"


async def queued_chats(rig: Rig, broadcast_id: str) -> list[str]:
    entries: Any = await rig.redis.xrange(rig.keys.broadcast_queue(broadcast_id, Channel.TELEGRAM))
    return sorted(str(fields[CHAT_FIELD]) for _, fields in entries)


async def paused_with_three_queued(rig: Rig) -> str:
    await rig.subscribe([1, 2, 3])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.engine.pause(broadcast.id)
    assert await queued_chats(rig, broadcast.id) == ["1", "2", "3"]
    return broadcast.id


async def test_an_erased_resident_is_dropped_from_a_paused_broadcasts_queue(rig: Rig) -> None:
    broadcast_id = await paused_with_three_queued(rig)
    await rig.residents.erase(Resident(Channel.TELEGRAM, "2"), ["verkehr"])
    assert await queued_chats(rig, broadcast_id) == ["1", "3"]

    await rig.engine.resume(broadcast_id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == ["1", "3"]
    progress = await rig.engine.progress(broadcast_id)
    assert progress.channels[Channel.TELEGRAM] == ChannelProgress(total=3, sent=2)


async def test_erasure_by_letter_drops_queued_deliveries_too(
    rig: Rig, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    broadcast_id = await paused_with_three_queued(rig)
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    erased = stadtfunk("erase-resident", "--channel", "tg", "--id", "3", cwd=tmp_path, **env)
    assert erased.returncode == 0, erased.stderr
    assert await queued_chats(rig, broadcast_id) == ["1", "2"]

    await rig.engine.resume(broadcast_id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == ["1", "2"]


async def test_the_resident_leaves_every_audience_before_the_forgetters_run(rig: Rig) -> None:
    """Otherwise a planner running between the drop of the queued deliveries and the audiences would
    queue the resident again."""
    await rig.subscribe([7])
    await rig.subscribe([7], topic="kultur")
    audiences = [rig.keys.audience(topic, Channel.TELEGRAM) for topic in ("verkehr", "kultur")]
    assert [await rig.redis.sismember(key, "7") for key in audiences] == [1, 1]
    seen: list[list[int]] = []

    async def look(resident: Resident) -> None:
        seen.append([await rig.redis.sismember(key, resident.chat_id) for key in audiences])

    rig.residents.forgetters.insert(0, look)
    await rig.residents.erase(Resident(Channel.TELEGRAM, "7"), ["verkehr", "kultur"])
    assert seen == [[0, 0]]


async def test_a_delivery_waiting_for_a_retry_is_never_sent_after_erasure(rig: Rig) -> None:
    """The sender holds it in memory, still claimed: erasure deletes it from the stream, and the sender
    finds it gone when it marks it as sending."""
    await rig.subscribe([A, B, C])
    rig.tg.fail("sendMessage", chat_id=B, status=429, description="Too Many Requests: retry after 5",
                retry_after=5)  # fmt: skip
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)

    async def others_served() -> bool:
        return (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM].sent == 2

    await rig.drain(until=others_served)
    assert await queued_chats(rig, broadcast.id) == [B], "claimed, waiting for its retry"
    await rig.residents.erase(Resident(Channel.TELEGRAM, B), ["verkehr"])
    await rig.drain()

    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == [A, C]
    progress = await rig.engine.progress(broadcast.id)
    assert progress.state is State.DONE
    assert progress.channels[Channel.TELEGRAM] == ChannelProgress(total=3, sent=2)
    assert await traces(rig.redis, B) == []


async def test_a_retry_handed_back_at_shutdown_does_not_bring_an_erased_resident_back(rig: Rig) -> None:
    await rig.subscribe([A, B])
    rig.tg.fail("sendMessage", chat_id=B, status=500, description="Internal Server Error")
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)

    async def first_served() -> bool:
        return (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM].sent == 1

    await rig.drain(until=first_served)
    await rig.residents.erase(Resident(Channel.TELEGRAM, B), ["verkehr"])
    for sender in rig.engine.senders:
        await sender.hand_back()  # what SIGTERM does with deliveries waiting for a retry
    assert await queued_chats(rig, broadcast.id) == []
    pending: Any = await rig.redis.xpending(rig.keys.broadcast_queue(broadcast.id, Channel.TELEGRAM), GROUP)
    assert pending["pending"] == 0
    assert await traces(rig.redis, B) == []


class EraseWhilePlanning:
    """The rig's hasher, which erases `victim` the moment the planner has read them from the audience and
    hashes them to queue them: from another thread with a connection of its own, as another process
    (a resident's /loeschen handled elsewhere, or `stadtfunk erase-resident`) would."""

    def __init__(self, redis_url: str, prefix: str, victim: str) -> None:
        self._hash = IdHasher(SECRET)
        self._redis_url, self._prefix, self._victim = redis_url, prefix, victim
        self.erased = False

    def __call__(self, value: str) -> str:
        if value == f"tg:{self._victim}" and not self.erased:
            self.erased = True
            elsewhere = threading.Thread(target=asyncio.run, args=(self._erase(),))
            elsewhere.start()
            elsewhere.join()
        return self._hash(value)

    async def _erase(self) -> None:
        client: aioredis.Redis = aioredis.Redis.from_url(self._redis_url, decode_responses=True)
        try:
            residents = residents_for(Storage(client, Keys(self._prefix), None), CITY.tz, self._hash)
            await residents.erase(Resident(Channel.TELEGRAM, self._victim), ["verkehr"])
        finally:
            await client.aclose()


@pytest.mark.single_redis
async def test_an_erasure_between_reading_the_audience_and_queueing_is_skipped(
    redis: aioredis.Redis, redis_url: str, key_prefix: str, clock: ManualClock
) -> None:
    hasher = EraseWhilePlanning(redis_url, key_prefix, victim=B)
    async with build_rig(redis, key_prefix, clock, hasher) as rig:
        await rig.subscribe([A, B, C])
        broadcast = await rig.broadcast()
        await rig.send(broadcast.id)
        assert hasher.erased, "the planner read the victim from the audience, then they were erased"
        assert await queued_chats(rig, broadcast.id) == [A, C]
        await rig.drain()
        assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == [A, C]
        assert not await redis.exists(rig.keys.broadcast_erased(broadcast.id)), "tidied when planned"
        assert await traces(redis, B) == []


async def test_erasures_racing_a_planner_never_lead_to_a_delivery(rig: Rig) -> None:
    """Load: 1,200 subscribers (two pages of the audience), 200 of them erased while it is planned."""
    # Ids as long as Telegram's, so that no counter or time in Redis reads like one of them.
    everyone = [str(chat) for chat in range(7_000_000_001, 7_000_001_201)]
    await rig.subscribe(everyone)
    erased = set(random.Random(16).sample(everyone, 200))
    broadcast = await rig.broadcast()

    async def erase(chats: list[str]) -> None:
        for chat in chats:  # one after another: they interleave with the planner's round trips
            await rig.residents.erase(Resident(Channel.TELEGRAM, chat), ["verkehr"])

    waves = [sorted(erased)[start::10] for start in range(10)]
    await asyncio.gather(rig.send(broadcast.id), *(erase(wave) for wave in waves))
    await rig.drain(max_steps=50_000)

    received = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
    assert not erased & set(received), "nobody erased gets a message after the erasure"
    assert received == Counter({chat: 1 for chat in everyone if chat not in erased})
    assert await traces(rig.redis, *sorted(erased)) == [], "one scan for all 200"
