"""A sender takes up claims again (after a reclaim, a batch it could not settle, or a step that failed
half-way) while batches of its own are on their way: nothing is sent twice without being counted, nothing
is counted that was not maybe sent twice, and nothing is left behind.

The engine talks to the suite's Redis through a stand-in (tests/fakes/redis_proxy.py) that holds the
one command that reads the "sending" marks, so that other batches settle at exactly that moment, or
cuts off the answer to the command that sets them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from broadcasts.progress import ChannelProgress
from broadcasts.queue import DEAD_AFTER_S
from city.values import Channel
from tests.broadcasts.conftest import Rig, build_rig
from tests.conftest import ManualClock
from tests.fakes.redis_proxy import RETRIES, RedisProxy

# The stand-in fronts one server; the engine's behaviour under every mode is tested elsewhere.
pytestmark = pytest.mark.single_redis

RESIDENTS = 12
# Read only when a sender takes up its pending list again, right after reading the list.
READ_MARKS = "SMISMEMBER"


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[RedisProxy]:
    async with RedisProxy(redis_url) as started:
        yield started


@pytest.fixture
async def proxied(
    proxy: RedisProxy, redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> AsyncIterator[Rig]:
    """The rig, its engine's every Redis command through the proxy (`redis` cleans up afterwards)."""
    client = proxy.client()
    async with build_rig(client, key_prefix, clock) as rig:
        yield rig
    await client.aclose()


async def test_a_batch_settled_while_the_pending_list_is_read_is_not_sent_again(
    proxied: Rig, proxy: RedisProxy
) -> None:
    rig = proxied
    await rig.subscribe(range(1, RESIDENTS + 1))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    sender = rig.engine.senders[0]
    # Another sender claims two deliveries and dies before it sends them.
    dead = rig.make_engine("worker-b")
    await dead.supervise_once()
    assert len(await dead.senders[0].queue.claim(broadcast.id, 2)) == 2

    # worker-a's batch is on its way: marked, and its sends held by the platform.
    rig.tg.hold("sendMessage")
    await sender.step()
    on_the_wire = await on_the_wire_count(rig, broadcast.id)
    assert on_the_wire > 0
    await rig.tg.wait_for(lambda tg: len(tg.held) == on_the_wire)

    # The supervisor takes over the dead sender's claims: worker-a reads its pending list again.
    rig.clock.advance(seconds=DEAD_AFTER_S + 1)
    await rig.engine.supervise_once()
    proxy.hold(READ_MARKS)
    stepping = asyncio.create_task(sender.step())
    try:
        # The list is read with the batch still in it; before the marks are read, the batch is
        # answered and settled.
        await proxy.wait_held(READ_MARKS)
        rig.tg.release()
        await until_settled(rig, broadcast.id, on_the_wire)
    finally:
        proxy.release()
        await stepping
    await rig.drain()

    per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
    assert per_chat == Counter({str(n): 1 for n in range(1, RESIDENTS + 1)}), "sent once each"
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=RESIDENTS, sent=RESIDENTS, maybe_duplicate=0)


async def test_claims_reclaimed_while_the_pending_list_is_read_are_taken_up(
    proxied: Rig, proxy: RedisProxy
) -> None:
    rig = proxied
    await rig.subscribe(range(1, RESIDENTS + 1))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    sender = rig.engine.senders[0]
    # Two senders claim two deliveries each and die, their last heartbeats ten seconds apart; the one
    # found dead last claimed first, so its claims come first in the list.
    first, second = rig.make_engine("worker-b"), rig.make_engine("worker-c")
    assert len(await second.senders[0].queue.claim(broadcast.id, 2)) == 2
    assert len(await first.senders[0].queue.claim(broadcast.id, 2)) == 2
    for dead in (first, second):
        await dead.supervise_once()
        rig.clock.advance(seconds=10)

    # The first is found dead, the second not yet: the first's claims are taken over, and worker-a
    # reads its pending list again, from the first's claims on...
    assert 10 < DEAD_AFTER_S < 20
    await rig.engine.supervise_once()
    proxy.hold(READ_MARKS)
    stepping = asyncio.create_task(sender.step())
    try:
        # ... and while it does, the second is found dead and its claims, before the first's in the
        # list, taken over as well.
        await proxy.wait_held(READ_MARKS)
        rig.clock.advance(seconds=10)
        await rig.engine.supervise_once()
    finally:
        proxy.release()
        await stepping
    # Claims nobody takes up would keep the broadcast from ever finishing.
    await rig.drain(max_steps=200)

    per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
    assert per_chat == Counter({str(n): 1 for n in range(1, RESIDENTS + 1)}), "sent once each"
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=RESIDENTS, sent=RESIDENTS, maybe_duplicate=0)


async def test_marks_whose_answer_was_lost_do_not_count_a_batch_as_sent_twice(
    proxied: Rig, proxy: RedisProxy
) -> None:
    rig = proxied
    await rig.subscribe(range(1, RESIDENTS + 1))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    sender = rig.engine.senders[0]
    # The batch is marked "sending", but Redis goes away before it answers (and stays away while the
    # client retries): the step fails and nothing goes out.
    proxy.cut("EVALSHA", "SADD")
    with pytest.raises(RedisError):
        await sender.step()
    assert proxy.cut_off == ["EVALSHA"] * (RETRIES + 1)
    assert await on_the_wire_count(rig, broadcast.id) > 0
    assert rig.tg.sent(None, "sendMessage") == []

    proxy.mend()
    sender.recover()  # what the sender's loop does after a failed step
    await rig.drain()

    per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
    assert per_chat == Counter({str(n): 1 for n in range(1, RESIDENTS + 1)}), "sent once each"
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=RESIDENTS, sent=RESIDENTS, maybe_duplicate=0)


async def test_a_delivery_maybe_sent_before_but_refused_now_is_not_counted_as_sent_twice(rig: Rig) -> None:
    await rig.subscribe(range(1, RESIDENTS + 1))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    # Another sender dies with three sends on their way: maybe they reached the residents.
    dead = rig.make_engine("worker-b")
    await dead.supervise_once()
    on_their_way = await dead.senders[0].queue.claim(broadcast.id, 3)
    await dead.senders[0].queue.mark_sending(broadcast.id, on_their_way)
    # One of them has blocked the bot since: sent again, the send is refused.
    rig.tg.block(on_their_way[0].chat_id)

    rig.clock.advance(seconds=DEAD_AFTER_S + 1)
    await rig.engine.supervise_once()
    await rig.drain()

    per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
    assert per_chat == Counter({str(n): 1 for n in range(2, RESIDENTS + 1)})
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=RESIDENTS, sent=RESIDENTS - 1, blocked=1, maybe_duplicate=2)


async def on_the_wire_count(rig: Rig, broadcast_id: str) -> int:
    """Deliveries marked "sending": what the sender has handed to the platform and not yet settled."""
    return int(await rig.redis.scard(rig.keys.broadcast_sending(broadcast_id, Channel.TELEGRAM)))


async def until_settled(rig: Rig, broadcast_id: str, sent: int) -> None:
    """Wait (each look a round trip, which lets the settling go on) until `sent` deliveries are counted."""
    async with asyncio.timeout(5):
        while (await rig.store.progress(broadcast_id)).channels[Channel.TELEGRAM].sent < sent:
            pass
