"""One owner per DATA_DIR: tools share the running server, orphans are adopted, never doubled."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.storage.embedded import EmbeddedRedis, EmbeddedRedisError


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sf-", dir="/tmp"))
    yield path
    pid_file = path / "redis.pid"
    if pid_file.exists():  # a test that failed half-way must not leave a server behind
        os.kill(int(pid_file.read_text()), 15)
    shutil.rmtree(path, ignore_errors=True)


def server_pid(data_dir: Path) -> int:
    return int((data_dir / "redis.pid").read_text())


async def test_a_tool_beside_the_service_uses_its_server(data_dir: Path) -> None:
    service = EmbeddedRedis(data_dir)
    await service.open(wait_for_owner_s=1)
    pid = server_pid(data_dir)
    tool = EmbeddedRedis(data_dir)
    await tool.open(wait_for_owner_s=0)
    assert service.owner
    assert not tool.owner
    await tool.close()
    assert server_pid(data_dir) == pid, "a tool must not stop the service's server"
    client = aioredis.Redis.from_url(service.url)
    assert await client.ping()
    await client.aclose()
    await service.close()
    assert not (data_dir / "redis.sock").exists()


async def test_a_second_service_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    first = EmbeddedRedis(data_dir)
    await first.open(wait_for_owner_s=1)
    try:
        with pytest.raises(EmbeddedRedisError, match=r"setting REDIS_URL"):
            await EmbeddedRedis(data_dir).open(wait_for_owner_s=0.2)
    finally:
        await first.close()


async def test_an_orphaned_server_is_adopted_not_doubled(data_dir: Path) -> None:
    killed = EmbeddedRedis(data_dir)
    await killed.open(wait_for_owner_s=1)
    client = aioredis.Redis.from_url(killed.url, decode_responses=True)
    await client.set("kept", "yes")
    await client.aclose()
    pid = server_pid(data_dir)
    # What SIGKILL of the owning process leaves: the server runs on, the lock is released by the kernel.
    assert killed._lock_fd is not None
    os.close(killed._lock_fd)
    killed._lock_fd = None

    successor = EmbeddedRedis(data_dir)
    await successor.open(wait_for_owner_s=1)
    assert server_pid(data_dir) == pid
    client = aioredis.Redis.from_url(successor.url, decode_responses=True)
    assert await client.get("kept") == "yes"
    await client.aclose()
    await successor.close()


async def test_a_stale_socket_is_replaced_by_a_fresh_server(data_dir: Path) -> None:
    (data_dir / "redis.sock").write_text("left over")
    server = EmbeddedRedis(data_dir)
    await server.open(wait_for_owner_s=1)
    client = aioredis.Redis.from_url(server.url)
    assert await client.ping()
    await client.aclose()
    await server.close()


async def test_too_long_data_dir_is_explained(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    with pytest.raises(EmbeddedRedisError, match="too long for a unix socket path"):
        await EmbeddedRedis(deep).open(wait_for_owner_s=0)
