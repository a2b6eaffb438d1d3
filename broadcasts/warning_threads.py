"""The warnings' threads in Redis, the one owner of their keys: per warning id the last version handled,
the broadcasts its versions became, its state, and when it ends; and the marks that find a warning
published twice (DWD under two ids, a second provider).

A thread's record holds what the source published (ids, headline, severity) and broadcast ids, never
who received it: the recipients are the broadcasts' own delivery records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import cast

from city.connection import RedisClient
from city.keys import Keys
from city.warnings import Warnings

from broadcasts.codec import mapping

# A closed thread is remembered this long (seconds), then forgotten with its record.
KEEP_CLOSED_S = 24 * 3600


def source_id(config: Warnings) -> str:
    """The district's dashboard in the polled-source ledger (broadcasts/sources.py)."""
    return f"warnings:{config.ars}"


class Stage(StrEnum):
    RELAYED = "relayed"  # its first version became a broadcast (sent, or a draft for approvers)
    QUIET = "quiet"  # known, not relayed: below min_severity, or first seen as an all-clear
    TWIN = "twin"  # the same warning as another id's (relayed there)
    CLOSED = "closed"  # ended: all-clear sent, expired, or gone from the dashboard


@dataclass(frozen=True, slots=True)
class Thread:
    warning_id: str
    version: int = 0  # the last version handled; 0: none yet
    stage: Stage | None = None
    provider: str = ""
    severity: str = ""
    headline: str = ""
    expires: datetime | None = None
    first: str = ""  # the broadcast of the first version relayed: its recipients are the thread's
    broadcasts: tuple[str, ...] = ()
    relayed_at: datetime | None = None
    twin_of: str = ""
    mark: str = ""
    priority: int = 1  # the lane of its first version (broadcasts.model.Priority)

    @property
    def known(self) -> bool:
        return self.stage is not None

    @property
    def open(self) -> bool:
        return self.stage in (Stage.RELAYED, Stage.QUIET, Stage.TWIN)


class Threads:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, warning_id: str) -> Thread:
        found = cast(dict[str, str], await self._redis.hgetall(self._keys.warning(warning_id)))
        if not found:
            return Thread(warning_id)
        return Thread(
            warning_id=warning_id,
            version=int(found.get("version") or 0),
            stage=Stage(found["stage"]) if found.get("stage") in Stage._value2member_map_ else None,
            provider=found.get("provider", ""),
            severity=found.get("severity", ""),
            headline=found.get("headline", ""),
            expires=_time(found.get("expires")),
            first=found.get("first", ""),
            broadcasts=tuple(found.get("broadcasts", "").split()),
            relayed_at=_time(found.get("relayed_at")),
            twin_of=found.get("twin_of", ""),
            mark=found.get("mark", ""),
            priority=int(found.get("priority") or 1),
        )

    async def save(self, thread: Thread, now: datetime) -> None:
        """Write the thread as it now stands, and list it as seen now."""
        fields = {
            "version": str(thread.version),
            "stage": thread.stage.value if thread.stage else "",
            "provider": thread.provider,
            "severity": thread.severity,
            "headline": thread.headline,
            "expires": str(thread.expires.timestamp()) if thread.expires else "",
            "first": thread.first,
            "broadcasts": " ".join(thread.broadcasts),
            "relayed_at": str(thread.relayed_at.timestamp()) if thread.relayed_at else "",
            "twin_of": thread.twin_of,
            "mark": thread.mark,
            "priority": str(thread.priority),
        }
        key = self._keys.warning(thread.warning_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=mapping(fields))
            if thread.stage is Stage.CLOSED:
                pipe.expire(key, KEEP_CLOSED_S)
            else:
                pipe.persist(key)
            pipe.zadd(self._keys.warnings(), {thread.warning_id: now.timestamp()})
            await pipe.execute()

    async def twin(self, mark: str, warning_id: str) -> str:
        """The id that first carried this mark (`warning_id` itself when it is the first)."""
        await self._redis.hsetnx(self._keys.warning_twins(), mark, warning_id)
        found = await self._redis.hget(self._keys.warning_twins(), mark)
        return str(found) if found else warning_id

    async def forget_mark(self, mark: str, warning_id: str) -> None:
        """A closed warning's mark goes, so that a later warning with the same words is new again."""
        if mark and await self._redis.hget(self._keys.warning_twins(), mark) == warning_id:
            await self._redis.hdel(self._keys.warning_twins(), mark)

    async def listed(self) -> list[Thread]:
        """Every warning still remembered, most recently seen first; records that ended are unlisted."""
        ids = [str(i) for i in await self._redis.zrevrange(self._keys.warnings(), 0, -1)]
        threads = [await self.get(warning_id) for warning_id in ids]
        if gone := [t.warning_id for t in threads if not t.known]:
            await self._redis.zrem(self._keys.warnings(), *gone)
        return [t for t in threads if t.known]


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None
