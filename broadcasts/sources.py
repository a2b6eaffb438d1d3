"""Outside sources polled for items (official warnings, press feeds): the one owner of their Redis state.

Per source it keeps the HTTP validators for conditional requests, its health (failures in a row, and
whether the admins were told it is down), the times of its last polls, the identities of items already
taken up, and a lease so that exactly one service process polls it. Health changes come back as values;
whoever polls hands them on to be told to the admins, once each way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import cast

from city.connection import RedisClient
from city.keys import Keys

# An identity longer than this (a feed's guid may be a long URL) is kept as its hash.
MAX_IDENTITY = 200

# Take the lease when it is free, or renew it when it is ours. KEYS: lease. ARGV: owner, milliseconds.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Give the lease up only when it is ours. KEYS: lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A good poll: validators and times, failures cleared; answers 1 when the admins had been told it was
# down (so its recovery is told once). KEYS: source. ARGV: now, etag, last-modified, new items (0/1).
_SUCCEEDED = """
redis.call('HSET', KEYS[1], 'last_poll', ARGV[1], 'last_good', ARGV[1], 'etag', ARGV[2],
  'last_modified', ARGV[3], 'failures', 0, 'error', '')
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'last_new', ARGV[1]) end
if redis.call('HGET', KEYS[1], 'down') == '1' then
  redis.call('HSET', KEYS[1], 'down', '0')
  return 1
end
return 0
"""

# A failed poll: answers 1 when this failure is the one that makes the source count as down (so the
# admins are told once). KEYS: source. ARGV: now, error, failures that count as down.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last_poll', ARGV[1], 'error', ARGV[2])
if failures >= tonumber(ARGV[3]) and redis.call('HGET', KEYS[1], 'down') ~= '1' then
  redis.call('HSET', KEYS[1], 'down', '1')
  return 1
end
return 0
"""


class Health(StrEnum):
    DOWN = "down"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A source went down (after `down_after` failed polls in a row) or came back: tell the admins."""

    source_id: str
    health: Health
    error: str  # the kind of the failure that counted ("timeout", "HTTP 503", …); "" on recovery


@dataclass(frozen=True, slots=True)
class Validators:
    """What the source said about its document, sent back so that an unchanged one costs a 304."""

    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source_id: str
    last_poll: datetime | None = None
    last_good: datetime | None = None
    last_new_item: datetime | None = None
    failures: int = 0  # in a row
    error: str = ""
    down: bool = False


class Sources:
    def __init__(self, redis: RedisClient, keys: Keys, *, down_after: int, lease_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self._down_after = down_after
        self._lease_ms = int(lease_s * 1000)
        self._lead = redis.register_script(_LEAD)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._failed = redis.register_script(_FAILED)
        self._release = redis.register_script(_RELEASE)

    async def lead(self, source_id: str, owner: str) -> bool:
        """Hold the source's lease (taken, or renewed when ours); False while another process holds it."""
        key = self._keys.source_lease(source_id)
        return bool(await self._lead(keys=[key], args=[owner, self._lease_ms]))

    async def release(self, source_id: str, owner: str) -> None:
        """Give the lease up at shutdown, so that another process polls at once, not when it expires."""
        await self._release(keys=[self._keys.source_lease(source_id)], args=[owner])

    async def due(self, source_id: str, every_s: float, now: datetime) -> bool:
        last = await self._redis.hget(self._keys.source(source_id), "last_poll")
        return last is None or float(last) + every_s <= now.timestamp()

    async def validators(self, source_id: str) -> Validators:
        found = await self._redis.hmget(self._keys.source(source_id), ["etag", "last_modified"])
        etag, modified = cast(list[str | None], found)
        return Validators(etag or "", modified or "")

    async def succeeded(
        self, source_id: str, now: datetime, validators: Validators, *, new_items: int
    ) -> HealthChange | None:
        args: list[str | float] = [
            now.timestamp(),
            validators.etag,
            validators.last_modified,
            int(bool(new_items)),
        ]
        if await self._succeeded(keys=[self._keys.source(source_id)], args=args):
            return HealthChange(source_id, Health.RECOVERED, "")
        return None

    async def failed(self, source_id: str, now: datetime, error: str) -> HealthChange | None:
        args: list[str | float] = [now.timestamp(), error, self._down_after]
        if await self._failed(keys=[self._keys.source(source_id)], args=args):
            return HealthChange(source_id, Health.DOWN, error)
        return None

    async def first_time(self, source_id: str, identity: str, now: datetime, *, keep_s: float) -> bool:
        """True exactly once per identity while it is kept; identities older than `keep_s` are forgotten."""
        key = self._keys.source_seen(source_id)
        member = _compact(identity)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member: now.timestamp()}, nx=True)
            pipe.zremrangebyscore(key, "-inf", now.timestamp() - keep_s)
            added, _ = await pipe.execute()
        return bool(added)

    async def status(self, source_id: str) -> SourceStatus:
        found = cast(dict[str, str], await self._redis.hgetall(self._keys.source(source_id)))
        return SourceStatus(
            source_id=source_id,
            last_poll=_time(found.get("last_poll")),
            last_good=_time(found.get("last_good")),
            last_new_item=_time(found.get("last_new")),
            failures=int(found.get("failures") or 0),
            error=found.get("error") or "",
            down=found.get("down") == "1",
        )


def _compact(identity: str) -> str:
    if len(identity) <= MAX_IDENTITY:
        return identity
    return "sha256:" + hashlib.sha256(identity.encode()).hexdigest()


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None
