"""One owner per DATA_DIR: tools share the running server, orphans are adopted, never doubled."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
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


def premade(data_dir: Path) -> None:
    """DATA_DIR as someone else made it: open to everyone, with a file and an old snapshot in it."""
    data_dir.chmod(0o755)
    (data_dir / "notes").mkdir(mode=0o755)
    (data_dir / "notes" / "left-over.txt").write_text("x")
    (data_dir / "notes" / "left-over.txt").chmod(0o644)
    (data_dir / "dump.rdb").write_bytes(b"REDIS0009 an old snapshot with everyone in it")


def modes(data_dir: Path) -> dict[str, int]:
    """The permission bits of DATA_DIR and of everything in it, by path relative to it."""
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for path in data_dir.rglob("*"):
        found[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return found


async def test_data_dir_and_its_files_are_private_whoever_made_them(data_dir: Path) -> None:
    """systemd's StateDirectory is 0755 and a volume is whatever the host made it."""
    premade(data_dir)
    server = EmbeddedRedis(data_dir)
    await server.open(wait_for_owner_s=1)
    try:
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        await client.set("written", "after the start")
        await client.bgrewriteaof()
        # The rewrite runs in a child process of the server; there is nothing to await but its end.
        while (await client.info("persistence"))["aof_rewrite_in_progress"]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert await client.config_get("save") == {"save": ""}
        assert await client.config_get("aof-use-rdb-preamble") == {"aof-use-rdb-preamble": "no"}
        await client.aclose()
        found = modes(data_dir)
        assert found.pop(".") == 0o700
        assert found.pop("notes") == 0o700
        assert found.pop("redis.sock") & 0o077 == 0
        assert "dump.rdb" not in found, "a snapshot the server never reads must not keep data"
        assert {"appendonly.aof", "redis.log", "redis.pid", "redis.lock"} <= set(found)
        # Written by the server after the start, the rewritten append-only file too.
        assert set(found.values()) == {0o600}, found
        assert (data_dir / "appendonly.aof").read_bytes().startswith(b"*"), "plain commands, no RDB"
    finally:
        await server.close()
    assert not (data_dir / "dump.rdb").exists(), "shutting down writes no snapshot"
