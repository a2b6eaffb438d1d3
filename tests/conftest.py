"""Shared fixtures: a real Redis (REDIS_URL, or the embedded server; a Cluster and a Sentinel service for
tests run once per Redis mode), a manual clock, the Bot API stand-in."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from bot.storage.client import open_client
from bot.storage.embedded import EmbeddedRedis
from city.connection import RedisClient
from tests.fakes.telegram_api import FakeTelegram
from tests.redis_topologies import ClusterTopology, SentinelTopology, TopologyUnavailable

TOKEN = "123456:TEST-token-for-the-stand-in"


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


# The Redis modes a deployment may choose (REDIS_URL's three forms); each but the first has its marker,
# so that `-m "not cluster and not sentinel"` leaves them out.
REDIS_MODES = (
    pytest.param("single"),
    pytest.param("cluster", marks=pytest.mark.cluster),
    pytest.param("sentinel", marks=pytest.mark.sentinel),
)


def parametrize_by_redis_mode(metafunc: pytest.Metafunc) -> None:
    """Run each test that talks to the suite's Redis (the `redis` fixture) once per mode: called from the
    `pytest_generate_tests` of the directories and modules whose tests must hold in every mode."""
    if "redis" not in metafunc.fixturenames:
        return
    # A test that fronts the server with a stand-in (tests/fakes/redis_proxy.py) or reaches into one
    # server's timing holds for the single server it names only.
    single = metafunc.definition.get_closest_marker("single_redis") is not None
    metafunc.parametrize("redis_mode", REDIS_MODES[:1] if single else REDIS_MODES, indirect=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `every_redis_mode` runs once per mode. (Directories and modules that hold for every
    mode as a whole call `parametrize_by_redis_mode` from a hook of their own instead; not both.)"""
    if metafunc.definition.get_closest_marker("every_redis_mode") is not None:
        parametrize_by_redis_mode(metafunc)


@pytest.fixture(scope="session")
def single_redis_url() -> Iterator[str]:
    """REDIS_URL when the environment names a server; otherwise one embedded server for the whole run."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    # A short directory: the server's unix socket path must stay under ~107 characters.
    data_dir = Path(tempfile.mkdtemp(prefix="sf-redis-", dir="/tmp"))
    server = EmbeddedRedis(data_dir)
    asyncio.run(server.open(wait_for_owner_s=0))
    try:
        yield server.url
    finally:
        asyncio.run(server.close())
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterTopology]:
    """3 primaries and 3 replicas, started once for the run and only when a test needs them."""
    try:
        topology = ClusterTopology().start()
    except TopologyUnavailable as exc:
        pytest.skip(f"no Redis Cluster: {exc}")
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelTopology]:
    """A primary, a replica and 3 sentinels, started once for the run and only when a test needs them."""
    try:
        topology = SentinelTopology().start()
    except TopologyUnavailable as exc:
        pytest.skip(f"no Redis Sentinel: {exc}")
    yield topology
    topology.stop()


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> str:
    """Which of REDIS_URL's forms the test talks to: one server, unless parametrised by mode."""
    return str(getattr(request, "param", "single"))


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_mode: str) -> str:
    """The URL of the test's Redis in its mode, exactly as a deployment writes REDIS_URL."""
    if redis_mode == "cluster":
        cluster: ClusterTopology = request.getfixturevalue("redis_cluster")
        return cluster.url
    if redis_mode == "sentinel":
        sentinel: SentinelTopology = request.getfixturevalue("redis_sentinel")
        return sentinel.url
    single: str = request.getfixturevalue("single_redis_url")
    return single


@pytest.fixture
def key_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, key_prefix: str) -> AsyncIterator[RedisClient]:
    """A client for the test's own key prefix, made as the service makes it; everything under the prefix
    is deleted afterwards (on a cluster, from every primary)."""
    client = await open_client(redis_url)
    yield client
    try:
        keys = [key async for key in client.scan_iter(match=f"{key_prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def tg(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    # People write at the test's time, as the service sees it.
    async with FakeTelegram(token=TOKEN, dates=lambda: clock().timestamp()) as fake:
        yield fake


@pytest.fixture
def make_settings(redis_url: str, key_prefix: str, tmp_path: Path) -> Any:
    """Settings as a deployment sets them; every field explicit, so a developer's .env cannot leak in."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": "http://127.0.0.1:9",
            "telegram_mode": "polling",
            "telegram_webhook_url": None,
            "telegram_webhook_secret": None,
            "redis_url": redis_url,
            "redis_key_prefix": key_prefix,
            "data_dir": tmp_path / "data",
            "http_host": "127.0.0.1",
            "http_port": 0,
            # Tests run side by side: each service's /metrics on a free port instead of the fixed 9464.
            "metrics_port": 0,
            "log_level": "DEBUG",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build
