"""The Redis client every layer takes: one server (given, or the primary Sentinel names) or a Cluster.

bot/storage/client.py makes it from REDIS_URL. Both kinds answer the same commands. What differs is that
a Cluster keeps each key in one of 16,384 slots, spread over its primaries; the key schema
(city/keys.py) plans for that: every script, transaction and multi-key command touches keys that share
one hash tag, and so one slot.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster
