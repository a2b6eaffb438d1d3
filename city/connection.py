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
from redis.exceptions import RedisClusterException, RedisError

RedisClient: TypeAlias = Redis | RedisCluster

# What a command may raise while a server is away or a failover is under way. A cluster client's own
# errors (no node reachable, a slot not yet covered again) do not derive from RedisError.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)
