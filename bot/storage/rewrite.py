"""Erasure that reaches the disk: after residents were erased (or webhook bodies processed), Redis
rewrites its append-only file, which until then still holds every command that wrote them.

A rewrite copies the whole data set, so erasures are batched: whoever erases marks a rewrite as due,
and the service's upkeep starts one when something is due and the last one is at least
ERASURE_REWRITE_MINUTES old. The mark lives in Redis, so erasures by any process (the command line
included) are covered by whichever service looks next, and only one of them rewrites.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import ResponseError

from city.connection import RedisClient
from city.keys import Keys
from city.values import Resident

log = logging.getLogger(__name__)

DUE = "due"
LAST = "last"
# A rewrite of a city's data takes seconds; one still running after this is left to finish alone.
REWRITE_TIMEOUT_S = 300.0
POLL_S = 0.05

# Claim the rewrite if one is due and the last is old enough: one caller wins, the mark is cleared.
# KEYS: the rewrite's hash. ARGV: now, the shortest gap between rewrites (both in seconds).
_CLAIM = """
if redis.call('HEXISTS', KEYS[1], 'due') == 0 then return 0 end
local now, last = tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
-- A last rewrite "in the future" means a clock was set back: it holds nothing up.
if last <= now and now - last < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('HDEL', KEYS[1], 'due')
return 1
"""


class DiskRewrite:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.disk_rewrite()
        self._claim = redis.register_script(_CLAIM)
        self._refused = False  # told the operator once that this server does not let us rewrite

    async def note(self, _: Resident | None = None) -> None:
        """Something personal was deleted: the append-only file is to be rewritten (batched)."""
        await self._redis.hsetnx(self._key, DUE, "1")

    async def run_due(self, now: datetime, every: timedelta) -> bool:
        """Start a rewrite if one is due and allowed; True when this call started one."""
        claimed = await self._claim(keys=[self._key], args=[repr(now.timestamp()), every.total_seconds()])
        if not claimed:
            return False
        info: Any = await self._redis.info("persistence")
        if not int(info.get("aof_enabled", 0)):
            return False  # nothing on disk to rewrite: this server keeps no append-only file
        try:
            await self._redis.bgrewriteaof()
        except ResponseError as exc:
            if "already in progress" in str(exc):
                # That rewrite may have started before the erasure: the next window tries again.
                await self.note()
                return False
            if not self._refused:
                self._refused = True
                log.warning(
                    "Redis refused BGREWRITEAOF (%s): erased data stays in its append-only file until "
                    "Redis rewrites it on its own; allow the command for stadtfunk's user",
                    type(exc).__name__,
                )
            return False
        log.info("append-only file rewrite started after erasures")
        return True

    async def next_allowed(self, every: timedelta) -> datetime | None:
        """When the next rewrite may start, if one is due; None when nothing waits."""
        due, last = await self._redis.hmget(self._key, [DUE, LAST])
        if due is None:
            return None
        return datetime.fromtimestamp(float(last or 0), UTC) + every

    async def settled(self, timeout_s: float = REWRITE_TIMEOUT_S) -> bool:
        """Wait until no rewrite runs or waits on the server (it runs in a child process of Redis, so
        there is nothing to await but its end); False if it still runs after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info: Any = await self._redis.info("persistence")
            if not int(info.get("aof_rewrite_in_progress", 0)) and not int(
                info.get("aof_rewrite_scheduled", 0)
            ):
                return True
            await asyncio.sleep(POLL_S)
        return False
