"""The Redis connection: the server named by REDIS_URL, or the embedded one under DATA_DIR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.settings import Settings
from bot.storage.embedded import EmbeddedRedis
from bot.storage.idhash import PROBE, audit_secret
from bot.storage.migrations import upgrade
from city.keys import SCHEMA_VERSION, Keys

# How long a starting service waits for a CLI command that briefly owns the embedded server.
SERVICE_OWNER_WAIT_S = 30.0


class StorageError(RuntimeError):
    """Redis is unreachable or holds data this release cannot read; the message says which."""


@dataclass(slots=True)
class Storage:
    redis: aioredis.Redis
    keys: Keys
    embedded: EmbeddedRedis | None

    async def close(self) -> None:
        await self.redis.aclose()
        if self.embedded is not None:
            await self.embedded.close()


async def open_storage(settings: Settings, *, service: bool) -> Storage:
    """Connect (starting the embedded server if REDIS_URL is unset) and migrate the schema."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        embedded = EmbeddedRedis(settings.data_dir)
        await embedded.open(wait_for_owner_s=SERVICE_OWNER_WAIT_S if service else 0.0)
        url = embedded.url
    client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
    storage = Storage(client, Keys(settings.redis_key_prefix), embedded)
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
        if stamp:
            await storage.redis.set(storage.keys.schema(), SCHEMA_VERSION, nx=True)
        stored = int(await storage.redis.get(storage.keys.schema()) or SCHEMA_VERSION)
    except RedisError as exc:
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
