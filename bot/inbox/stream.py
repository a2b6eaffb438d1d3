"""A messenger's inbox: what it sent us, stored durably before we acknowledge it, until it is handled.

Telegram and Meta redeliver what got no acknowledgement (Telegram an unconfirmed getUpdates offset or a
webhook without a 200, Meta for up to 7 days) and never what got one. So an update is appended to a Redis
stream first and acknowledged after; a consumer group works the stream off. A process that dies mid-way
leaves its entries pending, taken up again by itself after a restart or by another process once they have
been idle RECLAIM_IDLE_MS (a live process keeps its open entries fresh). Each entry is deleted as soon as it
is handled, and the append-only file's rewrite (bot/storage/rewrite.py) takes the bodies (numbers, names,
texts, also of people who never agreed to anything) off the disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, cast

from redis.exceptions import ResponseError

from city.connection import RedisClient

GROUP = "inbound"
BATCH = 64
WRITE_BATCH = 256
# One command for a whole batch: a pipeline costs the client a command's packing and parsing per body,
# which at thousands of webhooks a second is much of the process's time. A failure part-way leaves the
# bodies before it stored and refuses them all; sent again, they are counted once by their marks.
_ADD = """
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'b', ARGV[i])
end
return #ARGV
"""
# Acknowledged and deleted in one atomic step (ARGV: the group, then the ids), in slices that stay within
# the number of arguments a Lua call may pass on.
_DONE = """
for i = 2, #ARGV, 1000 do
  local last = math.min(i + 999, #ARGV)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, last))
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, last))
end
return #ARGV - 1
"""
# Entries claimed by a process that went silent this long are taken over by another.
RECLAIM_IDLE_MS = 30_000

Entry = tuple[str, str]  # (stream entry id, the body as received)


class InboxStream:
    """One messenger's inbound stream and its consumer group, shared by every service process."""

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        worker: str,
        *,
        reclaim_idle_ms: int = RECLAIM_IDLE_MS,
        handled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = redis
        self.stream = stream
        self._worker = worker
        self._reclaim_idle_ms = reclaim_idle_ms
        # Told after handled bodies are deleted: they stay in the append-only file until its rewrite.
        self._handled = handled
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._own_from: str | None = "0"  # after a start, first what this worker had claimed before
        self._add = redis.register_script(_ADD)
        self._ack_and_delete = redis.register_script(_DONE)

    async def accept(self, body: str) -> None:
        """Return once the body is stored. Bodies arriving together share one round trip (one command), so a
        burst costs Redis one call per batch and the connection pool a single connection."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((body, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def accept_all(self, bodies: Iterable[str]) -> None:
        """Store several bodies in one round trip (a page of getUpdates)."""
        batch = list(bodies)
        if len(batch) == 1:  # the script's call costs client and server more than a plain XADD
            await self._redis.xadd(self.stream, {"b": batch[0]})
        elif batch:
            await self._add(keys=[self.stream], args=batch)

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:WRITE_BATCH], self._waiting[WRITE_BATCH:]
            failure: BaseException | None = None
            try:
                await self.accept_all(body for body, _ in batch)
            except Exception as exc:
                failure = exc
            for _, done in batch:
                if done.done():  # the request was given up meanwhile
                    continue
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

    async def prepare(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, *, block_ms: int | None, open_ids: Collection[str] = ()) -> list[Entry]:
        """The next entries to handle: this worker's own left from before a restart, then those of silent
        processes, then new ones (waiting up to `block_ms`). Entries in `open_ids` are being handled."""
        if self._own_from is not None:
            entries = await self._read(self._own_from)
            self._own_from = entries[-1][0] if entries else None
            fresh = [entry for entry in entries if entry[0] not in open_ids]
            if fresh or entries:
                return fresh
        return await self._read(">", block_ms)

    async def reclaim(self, open_ids: Collection[str] = ()) -> list[Entry]:
        """Entries left idle by a process that went silent, now this worker's."""
        answer: Any = await self._redis.xautoclaim(
            self.stream, GROUP, self._worker, self._reclaim_idle_ms, start_id="0-0", count=BATCH
        )
        claimed = answer[1] if isinstance(answer, list | tuple) and len(answer) > 1 else []
        # Entries deleted meanwhile come back as (id, None).
        return [
            (str(i), cast(dict[str, str], f).get("b", "")) for i, f in claimed if f and str(i) not in open_ids
        ]

    async def keep(self, entry_ids: Collection[str]) -> None:
        """Still being handled here: reset their idle time, so that no other process takes them over."""
        if entry_ids:
            await self._redis.xclaim(self.stream, GROUP, self._worker, 0, list(entry_ids), justid=True)

    async def done(self, entry_ids: Collection[str]) -> None:
        """Handled: acknowledged and deleted together, one round trip for all."""
        if not entry_ids:
            return
        await self._ack_and_delete(keys=[self.stream], args=[GROUP, *entry_ids])
        if self._handled is not None:
            await self._handled()

    async def pending(self) -> int:
        """Entries stored but not yet handled, for tests and readiness."""
        info: Any = await self._redis.xpending(self.stream, GROUP)
        return int(info["pending"]) if isinstance(info, dict) else 0

    async def _read(self, start: str, block_ms: int | None = None) -> list[Entry]:
        answer = await self._redis.xreadgroup(
            GROUP, self._worker, {self.stream: start}, count=BATCH, block=block_ms
        )
        if not answer:
            return []
        # [[stream, [(id, fields), ...]]]
        found: Any = answer
        entries = found[0][1] if isinstance(found, list) else next(iter(found.values()))[0]
        return [(str(i), cast(dict[str, str], fields or {}).get("b", "")) for i, fields in entries]
