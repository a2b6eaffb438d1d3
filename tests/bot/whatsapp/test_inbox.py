"""Acknowledged means kept: stored notifications survive a crash and a restart, and count once."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.inbox.consumer import InboxConsumer, Split
from bot.inbox.lanes import Job, Lanes
from bot.inbox.stream import InboxStream
from bot.service import Service
from city.keys import Keys
from tests.bot.conftest import Sleeps
from tests.bot.whatsapp.conftest import RESIDENT, Webhook, whatsapp_settings
from tests.broadcasts.test_redis_restart import PrivateRedis
from tests.conftest import ManualClock, parametrize_by_redis_mode
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The inbox holds for one server, a Sentinel service and a Cluster alike."""
    parametrize_by_redis_mode(metafunc)


@pytest.fixture
async def own_redis() -> AsyncIterator[PrivateRedis]:
    """A Redis server of this test's own, which it may stop and start again."""
    server = PrivateRedis()
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def recording(done: list[str]) -> Split:
    """An inbox's reading of entries that records each body as handled, all in one lane."""

    def split(entry_id: str, body: str) -> list[tuple[str, Job]]:
        async def handle() -> None:
            done.append(body)

        return [("one-chat", handle)]

    return split


async def test_an_entry_whose_processing_died_is_taken_up_again_by_the_restarted_worker(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    stream = Keys(key_prefix).whatsapp_inbox()
    first = InboxStream(redis, stream, "worker-a")
    await first.prepare()
    await first.accept('{"n": 1}')
    # Read, and never finished: the process died.
    assert [body for _, body in await first.read(block_ms=None)] == ['{"n": 1}']
    assert await first.pending() == 1

    done: list[str] = []
    restarted = InboxConsumer(InboxStream(redis, stream, "worker-a"), recording(done), Lanes(), what="test")
    assert await restarted.step(block_ms=None) == 1
    await restarted.settle()
    assert done == ['{"n": 1}']
    assert await restarted.stream.pending() == 0
    assert await redis.xlen(stream) == 0


async def test_another_worker_takes_over_what_a_silent_one_left(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    stream = Keys(key_prefix).whatsapp_inbox()
    dead = InboxStream(redis, stream, "worker-a")
    await dead.prepare()
    await dead.accept('{"n": 2}')
    assert len(await dead.read(block_ms=None)) == 1
    done: list[str] = []
    # Idle for "long enough" at once, so the test need not wait the 30 s a deployment waits.
    other = InboxConsumer(
        InboxStream(redis, stream, "worker-b", reclaim_idle_ms=0), recording(done), Lanes(), what="test"
    )
    assert await other.step(block_ms=None) == 1
    await other.settle()
    assert done == ['{"n": 2}']
    assert await other.stream.pending() == 0


async def test_a_body_replayed_after_a_restart_is_answered_once(
    graph: FakeGraph,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
) -> None:
    graph.inbound(RESIDENT)
    body = wh.encode(
        wh.notification("106540352242922", messages=[wh.text(RESIDENT, "HILFE", at=clock().timestamp())])
    )
    settings = make_settings(**whatsapp_settings(graph, city_file))
    for _ in range(2):  # Meta retries a body it thinks was not acknowledged, here after a restart
        service = Service(settings, clock=clock, sleep=sleeps)
        await service.start()
        try:
            async with aiohttp.ClientSession() as session:
                hook = Webhook(session, service, redis)
                assert await hook.post_raw(body) == 200
                await hook.settled()
        finally:
            await service.stop()
    assert len(graph.sent(RESIDENT)) == 1
    assert len(graph.read_receipts()) == 1


async def test_with_redis_away_a_body_is_refused_with_503_and_taken_when_meta_retries(
    graph: FakeGraph,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    city_file: Path,
    own_redis: PrivateRedis,
) -> None:
    settings = make_settings(**whatsapp_settings(graph, city_file), redis_url=own_redis.url)
    service = Service(settings, clock=clock, sleep=sleeps)
    await service.start()
    graph.inbound(RESIDENT)
    body = wh.encode(
        wh.notification("106540352242922", messages=[wh.text(RESIDENT, "HILFE", at=clock().timestamp())])
    )
    try:
        assert service.storage is not None
        async with aiohttp.ClientSession() as session:
            hook = Webhook(session, service, service.storage.redis)
            await own_redis.stop()
            assert await hook.post_raw(body) == 503  # not stored, so not acknowledged: Meta retries
            await own_redis.start()
            assert await hook.post_raw(body) == 200
            await graph.wait_for(lambda g: len(g.sent(RESIDENT)) == 1, timeout=15)
    finally:
        await service.stop()
    assert "THEMEN" in graph.texts(RESIDENT)[0]
