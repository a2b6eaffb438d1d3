"""The Redis connection: the server named by REDIS_URL, or the embedded one under DATA_DIR."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.settings import Settings
from bot.storage.embedded import EmbeddedRedis
from bot.storage.idhash import PROBE
from broadcasts.records import DeliveryRecords
from broadcasts.store import BroadcastStore
from city.keys import SCHEMA_VERSION, Keys
from city.residents import Residents

log = logging.getLogger(__name__)

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
        await migrate(storage)
    except BaseException:
        await storage.close()
        raise
    return storage


async def migrate(storage: Storage) -> None:
    """Stamp a new database with the schema version and refuse data written by a newer release."""
    try:
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
    if stored < 2:
        # Retention (city file `retention:`) needs to know who has no topics or blocked the bot, and which
        # broadcasts still hold delivery records. Every step may run twice (two processes starting).
        now = datetime.now(UTC)
        listed = await Residents(storage.redis, storage.keys, UTC).index_for_retention(now)
        await DeliveryRecords(
            storage.redis, storage.keys, BroadcastStore(storage.redis, storage.keys)
        ).list_existing()
        await storage.redis.set(storage.keys.schema(), 2)
        log.info("data upgraded to schema version 2: %d residents listed for retention", listed)


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
