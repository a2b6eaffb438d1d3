"""The Redis connection: the server, Sentinel service or Cluster named by REDIS_URL, or the embedded one.

`connect` is the one factory of Redis clients (the service, the command line, the test suite and the
benchmarks all use it). Everything above works unchanged with any of them: the key schema keeps each
script and transaction in one Cluster slot, and a client reconnects by itself after a failover, to the
primary the sentinels name or to the replica the cluster promoted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from bot.settings import Settings
from bot.storage.embedded import EmbeddedRedis
from bot.storage.idhash import PROBE, audit_secret
from bot.storage.migrations import upgrade
from bot.storage.redis_url import Mode, RedisTarget, parse_redis_url
from city.connection import REDIS_ERRORS, RedisClient
from city.keys import SCHEMA_VERSION, Keys

# How long a starting service waits for a CLI command that briefly owns the embedded server.
SERVICE_OWNER_WAIT_S = 30.0
# A server that vanished without closing its connections (a host down, a partition) must not hold a
# command forever; no command of ours blocks longer than the WhatsApp inbox's 0.5 s read.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# /readyz answers within a load balancer's usual health-check timeout, reachable or not.
REACHABLE_TIMEOUT_S = 2.0


class StorageError(RuntimeError):
    """Redis is unreachable or holds data this release cannot read; the message says which."""


@dataclass(slots=True)
class Storage:
    redis: RedisClient
    keys: Keys
    embedded: EmbeddedRedis | None

    async def close(self) -> None:
        await self.redis.aclose()
        if self.embedded is not None:
            await self.embedded.close()

    async def reachable(self) -> bool:
        """Whether every primary answers: on a cluster, each holds a part of the data."""
        return await reachable(self.redis)


class SentinelManagedRedis(aioredis.Redis):
    """The primary a Sentinel service names; closing it also closes the connections to the sentinels."""

    sentinel_manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel_manager is not None:
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()


def connect(url: str, *, decode_responses: bool = True) -> RedisClient:
    """A client for REDIS_URL in any of its forms (see bot/storage/redis_url.py); connects lazily."""
    target = parse_redis_url(url)
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
    }
    match target.mode:
        case Mode.SINGLE:
            client: aioredis.Redis = aioredis.Redis.from_url(target.url, health_check_interval=30, **options)
            return client
        case Mode.SENTINEL:
            return _sentinel(target, options)
        case Mode.CLUSTER:
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
                username=target.username,
                password=target.password,
                **options,
            )


def _sentinel(target: RedisTarget, options: dict[str, Any]) -> SentinelManagedRedis:
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves Sentinel's arguments untyped
        list(target.nodes),
        sentinel_kwargs={
            "username": target.username,
            "password": target.password,
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["socket_connect_timeout"],
        },
    )
    client: SentinelManagedRedis = sentinel.master_for(
        target.service,
        redis_class=SentinelManagedRedis,
        db=target.db,
        username=target.username,
        password=target.password,
        health_check_interval=30,
        **options,
    )
    client.sentinel_manager = sentinel
    return client


async def open_client(url: str, *, decode_responses: bool = True) -> RedisClient:
    """`connect`, and on a cluster learn its layout before anyone uses the client: redis-py 8.1's async
    cluster client can break a connection when many tasks race its first look at the cluster."""
    client = connect(url, decode_responses=decode_responses)
    if isinstance(client, RedisCluster):
        try:
            await client.initialize()
        except BaseException:
            await client.aclose()
            raise
    return client


async def reachable(redis: RedisClient) -> bool:
    """Whether the primary (every primary of a cluster) answers within REACHABLE_TIMEOUT_S."""
    try:
        async with asyncio.timeout(REACHABLE_TIMEOUT_S):
            if isinstance(redis, RedisCluster):
                await redis.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await redis.ping()
    except REDIS_ERRORS:
        return False
    except (OSError, TimeoutError):
        return False
    return True


async def open_storage(settings: Settings, *, service: bool) -> Storage:
    """Connect (starting the embedded server if REDIS_URL is unset) and migrate the schema."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        embedded = EmbeddedRedis(settings.data_dir)
        await embedded.open(wait_for_owner_s=SERVICE_OWNER_WAIT_S if service else 0.0)
        url = embedded.url
    storage = Storage(connect(url), Keys(settings.redis_key_prefix), embedded)
    try:
        await migrate(storage, lambda: audit_secret(settings), stamp=service)
    except BaseException:
        await storage.close()
        raise
    return storage


async def migrate(storage: Storage, audit_secret: Callable[[], bytes], *, stamp: bool = True) -> None:
    """Stamp a new database with the schema version, upgrade data written by an older release (once,
    bot/storage/migrations.py), and refuse data written by a newer one.

    Only the service stamps: a command that merely looked must not make an empty prefix look used."""
    try:
        if isinstance(storage.redis, RedisCluster):
            await storage.redis.initialize()  # see open_client
        if stamp:
            await storage.redis.set(storage.keys.schema(), SCHEMA_VERSION, nx=True)
        stored = int(await storage.redis.get(storage.keys.schema()) or SCHEMA_VERSION)
    except REDIS_ERRORS as exc:
        # The exception text can carry the URL with its password; name only the kind of failure.
        raise StorageError(f"Redis is not reachable ({type(exc).__name__}); check REDIS_URL") from None
    if stored > SCHEMA_VERSION:
        raise StorageError(
            f"the data in Redis has schema version {stored}, but this release knows only up to "
            f"{SCHEMA_VERSION}; upgrade stadtfunk instead of downgrading it"
        )
    if stored < SCHEMA_VERSION and not await upgrade(storage.redis, storage.keys, stored, audit_secret()):
        raise StorageError("another stadtfunk process is upgrading the data in Redis and did not finish")


async def check_hasher(storage: Storage, hasher: Callable[[str], str]) -> None:
    """Refuse a process whose ID_HASH_SECRET differs from the one the data was written with: its
    limiter, dedupe marks and erasures would miss everything the other processes keyed."""
    expected = hasher(PROBE)
    await storage.redis.set(storage.keys.id_hash_check(), expected, nx=True)
    if await storage.redis.get(storage.keys.id_hash_check()) != expected:
        raise StorageError(
            "ID_HASH_SECRET differs from the one the data in Redis was written with; give this process "
            "the service's ID_HASH_SECRET (or run it with the service's DATA_DIR, where the secret is kept)"
        )


# What a redis-server with the append-only file leaves in its directory (appendonlydir since Redis 7),
# and the socket of one running there now.
DATA_FILES = ("appendonlydir", "appendonly.aof", "dump.rdb", "redis.sock")


def require_data_dir(settings: Settings) -> None:
    """Refuse a command beside the service when DATA_DIR holds no data: starting an embedded server
    there would create an empty store and report zeros as if they were the city's figures."""
    if settings.redis_url is not None:
        return
    data_dir = Path(settings.data_dir).resolve()
    if any((data_dir / name).exists() for name in DATA_FILES):
        return
    state = "does not exist" if not data_dir.exists() else "holds no stadtfunk data"
    raise StorageError(
        f"DATA_DIR {data_dir} {state}; set DATA_DIR to the directory the service uses "
        "(only `stadtfunk run` creates one)"
    )
