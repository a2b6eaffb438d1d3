"""Upgrading data written by the first release (schema 1): retention learns who has no topics or blocked
the bot, and which broadcasts still hold delivery records."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from bot.storage.client import open_storage
from city.keys import SCHEMA_VERSION, Keys


async def test_schema_1_is_upgraded_for_retention(
    redis: aioredis.Redis, key_prefix: str, make_settings: Any
) -> None:
    keys = Keys(key_prefix)
    consent: dict[Any, Any] = {
        "language": "de",
        "consent_at": "2026-01-05T10:00:00+00:00",
        "consent_version": "2026-01",
    }
    # As release 1 stored them: records, topics sets, a blocked resident's refusal time, a broadcast.
    await redis.hset(f"{key_prefix}:res:{{tg:1001}}", mapping=consent)
    await redis.sadd(f"{key_prefix}:res:{{tg:1001}}:topics", "verkehr")
    await redis.hset(f"{key_prefix}:res:{{tg:1002}}", mapping=consent)
    await redis.hset(
        f"{key_prefix}:res:{{wa:4915112345678}}",
        mapping={**consent, "inactive_since": "2026-03-01T08:00:00+00:00"},
    )
    await redis.sadd(f"{key_prefix}:res:{{wa:4915112345678}}:topics", "kultur")
    await redis.set(f"{key_prefix}:res:{{tg:1003}}:pending", "erase")  # no record: not listed
    await redis.zadd(keys.broadcast_index(), {"7": 1767607200.0})
    await redis.set(keys.schema(), 1)

    storage = await open_storage(make_settings(redis_key_prefix=key_prefix), service=False)
    await storage.close()

    assert SCHEMA_VERSION == 3
    assert await redis.get(keys.schema()) == "3"
    without_topics = await redis.zrange(keys.retention_unsubscribed(), 0, -1)
    assert without_topics == ["tg:1002"]
    assert await redis.zrange(keys.retention_inactive(), 0, -1, withscores=True) == [
        ("wa:4915112345678", 1772352000.0)
    ]
    assert await redis.zrange(keys.retention_records(), 0, -1, withscores=True) == [("7", 1767607200.0)]
