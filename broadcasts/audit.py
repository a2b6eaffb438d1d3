"""The append-only, tamper-evident audit log: who did what, when, from where, to which broadcast and version.

A Redis stream whose entry ids are the entries' times, each entry chained to the one before by a keyed
hash (broadcasts/audit_chain.py). Entries hold staff ids, broadcast ids and content hashes, never resident
data: an erasure or an export is logged as having happened, not for whom. A city's desk records a few
thousand actions a year, so checking the chain walks the whole stream.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, cast

from city.connection import RedisClient
from city.keys import Keys
from redis.exceptions import ResponseError

from broadcasts.audit_chain import Break, Link, check, seal

PAGE = 500
# Who acted, where no staff member did: a resident's own request (never which resident), an operator at
# the command line (the OS user is recorded with it).
RESIDENT = "resident"
OPERATOR = "operator"
# Appends that lose a race against another process try again with the new end of the chain, after a
# short random wait, so that processes appending at once do not keep colliding.
ATTEMPTS = 50
BACKOFF_S = 0.002
SHIP_LEASE_MS = 30_000

# Appends only if the stream still ends where the caller read it. KEYS: the stream. ARGV: the id of the
# last entry read ("" for none), the new entry's id, its field pairs. Answers 1, or 0 to read again.
_APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = ''
if #last > 0 then last_id = last[1][1] end
if last_id ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[1], ARGV[2], unpack(ARGV, 3))
return 1
"""


class Action(StrEnum):
    DRAFT = "draft"
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    SEND = "send"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RELOAD = "reload"
    BREAK_GLASS = "break_glass"
    REVIEW = "review"
    EXPIRE = "expire"
    MISSED = "missed"  # due while the service was down, longer ago than the grace: held
    RELEASE = "release"  # a held broadcast sent by staff
    REFUSED = "refused"  # an approval of a version that is no longer current
    WITHDRAWN = "withdrawn"  # not sent when due: a role was gone, or it was not the approved version
    ERASURE = "erasure"  # a resident's data erased (never who)
    EXPORT = "export"  # a resident's data handed out (never whose)
    TRIM = "trim"  # entries older than a retention limit dropped; the detail names where the log starts
    CORRECT = "correct"  # a correction drafted; the detail names the original, its and the new version
    RETRACT = "retract"  # a retraction drafted; likewise


class Via(str):
    """Where an action came from: a messenger, the command line, the sandbox, or a later source such as
    official warnings or a feed. Open on purpose: any short lowercase name is a valid one."""

    __slots__ = ()
    NAME: ClassVar[re.Pattern[str]] = re.compile(r"[a-z][a-z0-9_-]{0,19}")
    TELEGRAM: ClassVar[Via]
    WHATSAPP: ClassVar[Via]
    CLI: ClassVar[Via]
    SANDBOX: ClassVar[Via]
    FEED: ClassVar[Via]

    def __new__(cls, name: str) -> Via:
        if not cls.NAME.fullmatch(name):
            raise ValueError(f"not a source name for the audit log: {name[:40]!r}")
        return super().__new__(cls, name)


Via.TELEGRAM = Via("telegram")
Via.WHATSAPP = Via("whatsapp")
Via.CLI = Via("cli")
Via.SANDBOX = Via("sandbox")
Via.FEED = Via("feed")


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime  # asked for when recording; read back, the time of the entry's stream id
    who: str  # a staff id, "system", "resident" (a resident's own request, never which) or "operator"
    action: str  # an Action; read back, whatever the entry says
    broadcast_id: str | None = None
    detail: str = ""  # e.g. a rejection reason; staff's words, never residents'
    version: str = ""  # the content hash of what was approved, sent or acted on
    via: str = ""  # a Via; empty for what the service did on its own
    os_user: str = ""  # who ran the command line, as the operating system knows them
    entry_id: str = ""  # set when read back
    n: int = 0  # its place in the chain, set when read back

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "n": self.n,
            "at": self.at.isoformat(),
            "who": self.who,
            "action": str(self.action),
            "broadcast": self.broadcast_id,
            "version": self.version,
            "via": self.via,
            "os_user": self.os_user,
            "detail": self.detail,
        }

    def fields(self) -> dict[str, str]:
        optional = {
            "broadcast": self.broadcast_id or "",
            "version": self.version,
            "via": self.via,
            "os_user": self.os_user,
            "detail": self.detail,
        }
        return {"who": self.who, "action": str(self.action), **{k: v for k, v in optional.items() if v}}


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    first: str | None
    last: str | None
    broken: Break | None


class AuditLog:
    def __init__(self, redis: RedisClient, keys: Keys, secret: bytes) -> None:
        self._redis = redis
        self._keys = keys
        self._key = keys.audit()
        self._secret = secret
        self._append = redis.register_script(_APPEND)
        self._lock = asyncio.Lock()
        self._jitter = random.Random()  # noqa: S311 (spreading retries, not secrecy)

    async def record(self, entry: Entry) -> str:
        """Append an entry chained to the last one; its id is its time (never before the last entry's).
        The keyed hash needs the end of the chain, so appends are a compare-and-set: one at a time in this
        process, and another process's append in between means reading the end again."""
        async with self._lock:
            for attempt in range(ATTEMPTS):
                if (appended := await self._append_after_last(entry)) is not None:
                    return appended
                await asyncio.sleep(self._jitter.uniform(0, BACKOFF_S * (attempt + 1)))
        raise RuntimeError("the audit log stayed contended; the entry was not recorded")

    async def _append_after_last(self, entry: Entry) -> str | None:
        last = cast(list[tuple[str, dict[str, str]]], await self._redis.xrevrange(self._key, count=1))
        link = Link(int(last[0][1].get("n", 0)), last[0][1].get("mac", "")) if last else Link()
        entry_id = _next_id(entry.at, await self._top_id())
        fields = seal(self._secret, link, entry_id, entry.fields())
        pairs = [x for pair in fields.items() for x in pair]
        try:
            if await self._append(keys=[self._key], args=[last[0][0] if last else "", entry_id, *pairs]):
                return entry_id
        except ResponseError:  # another process's entry took that id first
            pass
        return None

    async def since(self, start: datetime) -> AsyncIterator[Entry]:
        """Entries recorded at or after `start`, oldest first."""
        async for entry_id, fields in self._walk(f"{int(start.timestamp() * 1000)}-0"):
            yield _entry(entry_id, fields)

    async def verify(self) -> ChainReport:
        """Walk the whole chain and name the first entry where it breaks. A log trimmed by `trim` starts
        at the entry its trim entry names; that entry, later in the chain, vouches for the start."""
        anchors = {
            fields.get("detail", "")
            async for _, fields in self._walk("-")
            if fields.get("action") == Action.TRIM
        }
        link, count, first, last_id = Link(), 0, None, None
        async for entry_id, fields in self._walk("-"):
            if first is None and _anchor(entry_id, fields) in anchors:
                link = Link(int(fields["n"]), fields["mac"])
                count, first, last_id = 1, entry_id, entry_id
                continue
            checked = check(self._secret, link, entry_id, fields)
            if isinstance(checked, Break):
                return ChainReport(count, first, last_id, checked)
            link, count, first, last_id = checked, count + 1, first or entry_id, entry_id
        deleted = await self._deleted_after(last_id)
        return ChainReport(count, first, last_id, deleted)

    async def trim(self, before: datetime, entry: Entry) -> int:
        """Drop the entries older than `before` (a retention limit), recording first, in the chain, where
        the log now starts; `verify` accepts that start and nothing else. Returns how many were dropped."""
        cursor = f"{int(before.timestamp() * 1000)}-0"
        oldest = cast(list[tuple[str, dict[str, str]]], await self._redis.xrange(self._key, count=1))
        if not oldest or _id_key(oldest[0][0]) >= _id_key(cursor):
            return 0
        kept = cast(
            list[tuple[str, dict[str, str]]], await self._redis.xrange(self._key, min=cursor, count=1)
        )
        if not kept:
            # Every entry is older than the limit: this trim's own first entry becomes where the log starts.
            await self.record(
                replace(entry, action=Action.TRIM, detail="every earlier entry was past the limit")
            )
            kept = cast(
                list[tuple[str, dict[str, str]]], await self._redis.xrange(self._key, min=cursor, count=1)
            )
        first_id, first = kept[0]
        await self.record(replace(entry, action=Action.TRIM, detail=_anchor(first_id, first)))
        dropped = int(first.get("n", 0)) - int(oldest[0][1].get("n", 0))
        await self._redis.xtrim(self._key, minid=first_id, approximate=False)
        return dropped

    async def unshipped(self, limit: int) -> list[tuple[Entry, str]]:
        """Entries not yet copied to syslog, oldest first, each with its keyed hash."""
        after = cast(str | None, await self._redis.get(self._keys.audit_shipped()))
        page = cast(
            list[tuple[str, dict[str, str]]],
            await self._redis.xrange(self._key, min=f"({after}" if after else "-", count=limit),
        )
        return [(_entry(entry_id, fields), fields.get("mac", "")) for entry_id, fields in page]

    async def shipped(self, entry_id: str) -> None:
        await self._redis.set(self._keys.audit_shipped(), entry_id)

    async def lease_shipping(self, worker: str) -> bool:
        """One process copies to syslog at a time; the lease lapses if it dies."""
        key = self._keys.audit_shipper()
        if await self._redis.set(key, worker, nx=True, px=SHIP_LEASE_MS):
            return True
        if await self._redis.get(key) == worker:
            return bool(await self._redis.pexpire(key, SHIP_LEASE_MS))
        return False

    async def rechain(self) -> int:
        """Once, on the upgrade to a chained log: chain the entries written before it, keeping their ids
        (their times); their old time field goes, the id is the time now. Returns how many there were."""
        legacy = [(i, f) async for i, f in self._walk("-")]
        if not legacy or all("mac" in fields for _, fields in legacy):
            return 0
        staging = self._keys.audit_rechain()
        await self._redis.delete(staging)
        link = Link()
        for entry_id, fields in legacy:
            kept = {k: v for k, v in fields.items() if k not in ("at", "n", "mac")}
            sealed = seal(self._secret, link, entry_id, kept)
            await self._redis.xadd(staging, cast(dict[Any, Any], sealed), id=entry_id)
            link = Link(link.n + 1, sealed["mac"])
        await self._redis.rename(staging, self._key)
        return len(legacy)

    async def _walk(self, start: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
        cursor = start
        while True:
            page = cast(
                list[tuple[str, dict[str, str]]], await self._redis.xrange(self._key, min=cursor, count=PAGE)
            )
            for entry_id, fields in page:
                yield entry_id, fields
            if len(page) < PAGE:
                return
            cursor = "(" + page[-1][0]

    async def _top_id(self) -> str:
        """The highest id the stream ever gave, deleted entries included (XADD must go above it)."""
        try:
            info = await self._redis.xinfo_stream(self._key)
        except ResponseError:  # no stream yet
            return "0-0"
        return str(info["last-generated-id"])

    async def _deleted_after(self, last_id: str | None) -> Break | None:
        """Entries deleted after the last one that remains: the stream still knows the highest id it
        gave. (Whoever can also reset that, or rebuild the stream, is caught by the syslog copy.)"""
        try:
            info = await self._redis.xinfo_stream(self._key)
        except ResponseError:  # no stream: nothing was ever recorded
            return None
        top = str(info["last-generated-id"])
        if last_id is None or _id_key(top) > _id_key(last_id):
            return Break(top, None, "the newest entries were deleted: this was the newest of them")
        return None


def _entry(entry_id: str, fields: dict[str, str]) -> Entry:
    return Entry(
        at=datetime.fromtimestamp(int(entry_id.split("-", maxsplit=1)[0]) / 1000, UTC),
        who=fields.get("who", ""),
        action=fields.get("action", ""),
        broadcast_id=fields.get("broadcast"),
        detail=fields.get("detail", ""),
        version=fields.get("version", ""),
        via=fields.get("via", ""),
        os_user=fields.get("os_user", ""),
        entry_id=entry_id,
        n=int(fields["n"]) if fields.get("n", "").isdecimal() else 0,
    )


def _anchor(entry_id: str, fields: dict[str, str]) -> str:
    """How a trim entry names the entry the log starts at: its id, number and keyed hash."""
    return f"starts at {entry_id} #{fields.get('n', '')} {fields.get('mac', '')}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(at: datetime, top: str) -> str:
    """The entry's time as a stream id, moved just past the top when the clock is behind it."""
    wanted = (int(at.timestamp() * 1000), 0)
    top_ms, top_seq = _id_key(top)
    ms, seq = max(wanted, (top_ms, top_seq + 1))
    return f"{ms}-{seq}"
