"""The Redis primary SIGKILLed mid-broadcast, on a Cluster and on Sentinel: nothing is lost, every possible
duplicate is counted, and the service process reconnects by itself, without a restart.

Each test runs a topology of its own (a primary killed there leaves the suite's shared ones alone) with
short failure timeouts, and a real `python -m bot.cli run` against the Bot API stand-in, which holds the
broadcast's sends on request, so that sends are in flight when the primary dies.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.assembly import build_engine, limiter_for
from bot.control import Announcement, ControlChannel
from bot.storage.client import Storage, open_client
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from broadcasts.progress import ChannelProgress
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident
from tests.broadcasts.conftest import CITY
from tests.broadcasts.test_crash import IN_FLIGHT, SECRET, Deployment, done, eventually, held_sends, now
from tests.conftest import TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.redis_topologies import ClusterTopology, SentinelTopology, TopologyUnavailable

SUBSCRIBERS = 200
TEXT = "Hochwasser an der Elbe"
# Short: the primary is declared dead after a second of silence (production keeps the defaults).
FAILURE_TIMEOUT_MS = 1000


@dataclass
class Failing:
    """A topology whose primary the test may kill."""

    mode: str
    topology: ClusterTopology | SentinelTopology

    def kill_primary(self, key: str) -> int:
        if isinstance(self.topology, ClusterTopology):
            return self.topology.kill_primary_for(key)
        return self.topology.kill_primary()

    async def failed_over(self, key: str, killed: int) -> int:
        if isinstance(self.topology, ClusterTopology):
            return await asyncio.to_thread(self.topology.wait_for_failover, key, killed)
        return await asyncio.to_thread(self.topology.wait_for_failover, killed)


@pytest.fixture(
    params=[
        pytest.param("cluster", marks=pytest.mark.cluster),
        pytest.param("sentinel", marks=pytest.mark.sentinel),
    ]
)
def failing(request: pytest.FixtureRequest) -> Iterator[Failing]:
    try:
        if request.param == "cluster":
            topology: ClusterTopology | SentinelTopology = ClusterTopology(FAILURE_TIMEOUT_MS).start()
        else:
            topology = SentinelTopology(FAILURE_TIMEOUT_MS).start()
    except TopologyUnavailable as exc:
        pytest.skip(f"no Redis {request.param}: {exc}")
    yield Failing(str(request.param), topology)
    topology.stop()


@pytest.fixture
async def client(failing: Failing) -> AsyncIterator[RedisClient]:
    redis = await open_client(failing.topology.url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def deployment(
    failing: Failing, client: RedisClient, key_prefix: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    keys = Keys(key_prefix)
    residents = Residents(client, keys, CITY.tz)
    for chat in range(1, SUBSCRIBERS + 1):
        resident = Resident(Channel.TELEGRAM, str(chat))
        await residents.consent(resident, language="de", version=CITY.privacy.version, at=now())
        record = await residents.get(resident)
        assert record is not None
        await residents.subscribe(record, "verkehr", now())
    async with FakeTelegram(token=TOKEN) as tg, aiohttp.ClientSession() as session:
        storage = Storage(client, keys, None)
        channel = TelegramChannel(TelegramAPI(session, tg.url, TOKEN), 1000)
        engine = build_engine(
            storage=storage,
            city=lambda: CITY,
            channels=[(channel, limiter_for(storage, channel, TOKEN.partition(":")[0], 0.01))],
            care=residents,
            hasher=IdHasher(SECRET.encode()),
            worker="staff-desk",
            clock=now,
        )
        running = Deployment(tg, failing.topology.url, key_prefix, tmp_path, engine)
        yield running
        await running.stop_all()


async def readiness(port: int) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as answer:
        return answer.status


@pytest.mark.timeout(180)
async def test_the_primary_killed_mid_broadcast_loses_nothing_and_the_service_reconnects_by_itself(
    failing: Failing, deployment: Deployment, client: RedisClient, key_prefix: str
) -> None:
    tg, keys = deployment.tg, Keys(key_prefix)
    port = free_port()
    tg.hold("sendMessage")
    service = await deployment.start("sender-1", HTTP_PORT=str(port))
    broadcast_id = await deployment.broadcast(TEXT)
    await tg.wait_for(lambda t: held_sends(t, TEXT) >= IN_FLIGHT // 2, timeout=30)
    assert await readiness(port) == 200

    queue = keys.broadcast_queue(broadcast_id, Channel.TELEGRAM)
    killed = failing.kill_primary(queue)
    # The sends in flight reach Telegram; settling them fails while the primary is gone.
    arrived = held_sends(tg, TEXT)
    tg.release()
    assert await readiness(port) == 503, "no primary: not ready"
    await failing.failed_over(queue, killed)

    await eventually(lambda: ready_again(port))
    # A cluster's failover settles its slots, then the senders reclaim: on a loaded machine, slowly.
    await eventually(lambda: done(deployment, broadcast_id), within_s=90)
    assert service.returncode is None, "the same process rode out the failover"
    per_chat = deployment.deliveries(TEXT)
    assert set(per_chat) == {str(n) for n in range(1, SUBSCRIBERS + 1)}, "nobody is lost"
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates >= arrived, "what Telegram took before the failover went again"
    progress = (await deployment.engine.progress(broadcast_id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=SUBSCRIBERS, sent=SUBSCRIBERS, maybe_duplicate=duplicates)
    # The control channel found the new primary too: `stadtfunk reload` reaches the service.
    await eventually(lambda: heard_by_one(ControlChannel(client, keys)))


async def ready_again(port: int) -> bool:
    return await readiness(port) == 200


async def heard_by_one(control: ControlChannel) -> bool:
    return await control.announce(Announcement.SCHEDULE_CHANGED) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
