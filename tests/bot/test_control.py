"""The control channel reaches every listening process in every Redis mode, and counts them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from bot.control import Announcement, ControlChannel
from bot.storage.client import connect
from city.connection import RedisClient
from city.keys import Keys
from tests.conftest import parametrize_by_redis_mode


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_redis_mode(metafunc)


class Listener:
    """A service process's end of the channel, on a client of its own."""

    def __init__(self, redis_url: str, keys: Keys) -> None:
        self.client = connect(redis_url)
        self.channel = ControlChannel(self.client, keys)
        self.heard: list[Announcement] = []
        self.reloaded = asyncio.Event()
        self.stopping = asyncio.Event()

    def on(self) -> dict[Announcement, Callable[[], Awaitable[None]]]:
        return {announcement: self._recorder(announcement) for announcement in Announcement}

    def _recorder(self, announcement: Announcement) -> Callable[[], Awaitable[None]]:
        async def record() -> None:
            self.heard.append(announcement)
            if announcement is Announcement.RELOAD:
                self.reloaded.set()

        return record


@asynccontextmanager
async def listening(redis_url: str, keys: Keys, count: int) -> AsyncIterator[list[Listener]]:
    listeners = [Listener(redis_url, keys) for _ in range(count)]
    tasks = [asyncio.create_task(one.channel.listen(one.stopping, one.on())) for one in listeners]
    try:
        yield listeners
    finally:
        for one in listeners:
            one.stopping.set()
        await asyncio.gather(*tasks)
        for one in listeners:
            await one.client.aclose()


async def listeners_are(announcer: ControlChannel, expected: int) -> None:
    """Until the server counts `expected` listeners: they subscribe in their own tasks, and unsubscribe
    when the server notices their connection closed. A schedule-changed announcement is harmless."""
    async with asyncio.timeout(10):
        while await announcer.announce(Announcement.SCHEDULE_CHANGED) != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_an_announcement_reaches_every_process_and_counts_them(
    redis: RedisClient, redis_url: str, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    announcer = ControlChannel(redis, keys)
    assert await announcer.announce(Announcement.RELOAD) == 0, "nobody listens yet"
    async with listening(redis_url, keys, 2) as listeners:
        await listeners_are(announcer, 2)
        assert await announcer.announce(Announcement.RELOAD) == 2
        async with asyncio.timeout(10):
            await asyncio.gather(*(one.reloaded.wait() for one in listeners))
    await listeners_are(announcer, 0)


async def test_another_deployments_prefix_hears_nothing(
    redis: RedisClient, redis_url: str, key_prefix: str
) -> None:
    async with listening(redis_url, Keys(key_prefix), 1) as listeners:
        await listeners_are(ControlChannel(redis, Keys(key_prefix)), 1)
        assert await ControlChannel(redis, Keys(f"{key_prefix}-other")).announce(Announcement.RELOAD) == 0
    assert Announcement.RELOAD not in listeners[0].heard
