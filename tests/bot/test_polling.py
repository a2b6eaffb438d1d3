"""Polling through the real fetcher against a document server on loopback, with the ledger on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.fetching import Fetcher
from bot.polling import Malformed, Poller
from broadcasts.sources import Health, Sources
from city.keys import Keys
from tests.conftest import ManualClock
from tests.fakes.http_source import FakeSource

MAX_BYTES = 64 * 1024


@dataclass
class ListSource:
    """A source whose document is one item id per line; "broken" cannot be read."""

    source_id: str
    url: str
    sources: Sources
    taken: list[str] = field(default_factory=list)

    def every_s(self) -> float:
        return 60.0

    async def take(self, body: bytes, now: datetime) -> int:
        lines = body.decode().split()
        if "broken" in lines:
            raise Malformed("a line says broken")
        new = [
            line for line in lines if await self.sources.first_time(self.source_id, line, now, keep_s=86400)
        ]
        self.taken += new
        return len(new)


@pytest.fixture
async def source() -> AsyncIterator[FakeSource]:
    async with FakeSource() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def make(
    redis: aioredis.Redis, key_prefix: str, session: aiohttp.ClientSession, clock: ManualClock, worker: str
) -> tuple[Sources, Poller]:
    sources = Sources(redis, Keys(key_prefix), down_after=2, lease_s=30)
    fetcher = Fetcher(session, timeout_s=0.5, max_bytes=MAX_BYTES)
    return sources, Poller(sources, fetcher, worker=worker, clock=clock)


async def test_new_items_once_and_an_unchanged_document_costs_a_304(
    redis: aioredis.Redis,
    key_prefix: str,
    session: aiohttp.ClientSession,
    source: FakeSource,
    clock: ManualClock,
) -> None:
    sources, poller = make(redis, key_prefix, session, clock, "a")
    feed = ListSource("presse", source.url("presse.txt"), sources)
    source.put("presse.txt", "one two")
    assert await poller.poll(feed) is None
    assert feed.taken == ["one", "two"]
    assert await poller.poll(feed) is None
    assert len(source.requested("presse.txt")) == 1, "not due again before its interval"
    clock.advance(seconds=60)
    await poller.poll(feed)
    second = source.requested("presse.txt")[-1]
    assert second.if_none_match is not None
    assert second.if_modified_since is not None
    assert feed.taken == ["one", "two"], "a 304 takes nothing"
    source.put("presse.txt", "one two three")
    clock.advance(seconds=60)
    await poller.poll(feed)
    assert feed.taken == ["one", "two", "three"]
    # A restart: a new poller and source object on the same Redis take nothing twice.
    _, restarted = make(redis, key_prefix, session, clock, "a")
    again = ListSource("presse", source.url("presse.txt"), sources)
    source.put("presse.txt", "one two three four")
    clock.advance(seconds=60)
    await restarted.poll(again)
    assert again.taken == ["four"]


async def test_two_processes_poll_under_one_lease(
    redis: aioredis.Redis,
    key_prefix: str,
    session: aiohttp.ClientSession,
    source: FakeSource,
    clock: ManualClock,
) -> None:
    sources, first = make(redis, key_prefix, session, clock, "host-a")
    _, second = make(redis, key_prefix, session, clock, "host-b")
    source.put("presse.txt", "one")
    for _ in range(3):
        await first.poll(ListSource("presse", source.url("presse.txt"), sources))
        await second.poll(ListSource("presse", source.url("presse.txt"), sources))
        clock.advance(seconds=60)
    assert len(source.requested("presse.txt")) == 3, "only the lease holder polls"
    await first.release(ListSource("presse", source.url("presse.txt"), sources))
    await second.poll(ListSource("presse", source.url("presse.txt"), sources))
    assert len(source.requested("presse.txt")) == 4, "the other takes over once it is released"


@pytest.mark.parametrize("trouble", ["status", "hang", "too large", "malformed", "unreachable"])
async def test_a_broken_source_is_told_once_each_way_and_takes_nothing(
    redis: aioredis.Redis,
    key_prefix: str,
    session: aiohttp.ClientSession,
    source: FakeSource,
    clock: ManualClock,
    trouble: str,
) -> None:
    sources, poller = make(redis, key_prefix, session, clock, "a")
    url = source.url("presse.txt") if trouble != "unreachable" else "http://127.0.0.1:9/presse.txt"
    feed = ListSource("presse", url, sources)
    match trouble:
        case "status":
            source.fail("presse.txt", 503)
        case "hang":
            source.hang("presse.txt")
        case "too large":
            source.put("presse.txt", "x" * (MAX_BYTES + 1))
        case "malformed":
            source.put("presse.txt", "one broken")
    changes = []
    for _ in range(3):
        changes.append(await poller.poll(feed))
        clock.advance(seconds=60)
    expected = {"status": "HTTP 503", "hang": "timeout", "too large": "too large", "malformed": "malformed"}
    assert [c.health if c else None for c in changes] == [None, Health.DOWN, None]
    assert changes[1] is not None
    assert changes[1].error == expected.get(trouble, "ClientConnectorError")
    assert feed.taken == [], "no partial take"
    if trouble == "unreachable":
        return
    source.put("presse.txt", "one")
    recovered = await poller.poll(feed)
    assert recovered is not None
    assert recovered.health is Health.RECOVERED
    assert feed.taken == ["one"]
