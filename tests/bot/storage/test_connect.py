"""The one factory of Redis clients, against a real server, Sentinel service and Cluster: the storage
opens and migrates in each mode, a wrong password is refused without naming it, and readiness says
whether the primaries answer."""

from __future__ import annotations

from typing import Any

import pytest

from bot.storage.client import StorageError, connect, open_storage, reachable
from city.connection import RedisClient
from city.keys import SCHEMA_VERSION
from tests.conftest import parametrize_by_redis_mode
from tests.redis_topologies import PASSWORD, Topology

KINDS = {"single": "Redis", "sentinel": "SentinelManagedRedis", "cluster": "RedisCluster"}
# The topologies the suite starts, which (unlike its single server) take a password.
TOPOLOGIES = pytest.mark.parametrize(
    "redis_mode",
    [
        pytest.param("cluster", marks=pytest.mark.cluster),
        pytest.param("sentinel", marks=pytest.mark.sentinel),
    ],
    indirect=True,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_redis_mode(metafunc)


async def test_the_storage_opens_and_migrates_in_every_mode(
    redis: RedisClient, redis_mode: str, make_settings: Any, key_prefix: str
) -> None:
    storage = await open_storage(make_settings(), service=True)
    try:
        assert type(storage.redis).__name__ == KINDS[redis_mode]
        assert await storage.reachable()
        assert await redis.get(f"{key_prefix}:meta:schema") == str(SCHEMA_VERSION)
    finally:
        await storage.close()


@TOPOLOGIES
async def test_a_wrong_password_is_refused_without_naming_it(redis_url: str, make_settings: Any) -> None:
    wrong = redis_url.replace(PASSWORD, "not-the-password")
    with pytest.raises(StorageError, match="not reachable") as refused:
        await open_storage(make_settings(redis_url=wrong), service=False)
    assert "not-the-password" not in str(refused.value)
    assert PASSWORD not in str(refused.value)


@TOPOLOGIES
async def test_closing_releases_every_connection(
    redis_mode: str, redis_url: str, request: pytest.FixtureRequest
) -> None:
    """Counted by the servers themselves: the primaries, and for Sentinel the sentinels too."""
    topology: Topology = request.getfixturevalue(f"redis_{redis_mode}")
    before = connections(topology)
    client = connect(redis_url)
    await client.set("connect-test:{x}", "1")
    await client.delete("connect-test:{x}")
    assert connections(topology) > before
    await client.aclose()
    assert connections(topology) == before


def connections(topology: Topology) -> int:
    """Clients connected to every running server of the topology, less this look's own."""
    counted = 0
    for server in topology.servers:
        if server.running:
            with server.client() as client:
                counted += len(client.client_list()) - 1
    return counted


@pytest.mark.parametrize("url", ["redis://127.0.0.1:9/0", "redis+cluster://127.0.0.1:9/"])
async def test_nothing_listening_is_not_reachable_and_fails_the_start(url: str, make_settings: Any) -> None:
    nowhere = connect(url)
    assert not await reachable(nowhere)
    await nowhere.aclose()
    with pytest.raises(StorageError, match="not reachable"):
        await open_storage(make_settings(redis_url=url), service=False)
