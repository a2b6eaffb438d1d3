"""The one path every messenger's inbox is worked off by: entries read from the stream, split into jobs
for their chats' lanes, and each entry acknowledged and deleted once all its jobs are finished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.inbox.lanes import Job, Lanes
from bot.inbox.stream import BATCH, Entry, InboxStream

log = logging.getLogger(__name__)

BLOCK_MS = 500
# Entries read but not finished; beyond this the reader waits, and the rest stays safe in the stream.
MAX_OPEN = 4096
# How often open entries are marked as still being handled, and idle ones of silent processes looked for.
KEEP_EVERY_S = 5.0
RETRY_PAUSE_S = 1.0
# After a read that found fewer entries than a batch, the next waits this long: under steady traffic the
# blocking read would otherwise return each entry alone, a read and an acknowledgement per webhook, which
# at thousands a second takes the CPU the webhooks need. After a quiet spell the first entry is read at once.
GATHER_S = 0.01

# An entry's body read into jobs, each with the lane (its chat) it must wait its turn in.
Split = Callable[[str, str], list[tuple[str, Job]]]


class InboxConsumer:
    def __init__(self, stream: InboxStream, split: Split, lanes: Lanes, *, what: str) -> None:
        self._stream = stream
        self._split = split
        self._lanes = lanes
        self._what = what
        # Entries read and not yet acknowledged, with what waits for their jobs (None: nothing to wait for).
        self._open: dict[str, asyncio.Task[None] | None] = {}
        self._last_keep = 0.0
        self._finished: list[str] = []
        self._acking: asyncio.Task[None] | None = None

    @property
    def stream(self) -> InboxStream:
        return self._stream

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                read = await self.step(block_ms=BLOCK_MS)
            except Exception as exc:  # Redis away: wait a little and go on, nothing is lost
                log.error("%s inbox failed: %s", self._what, type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RETRY_PAUSE_S)
                continue
            if 0 < read < BATCH:
                await asyncio.sleep(GATHER_S)
        await self.settle(timeout=0)

    async def step(self, *, block_ms: int | None = None) -> int:
        """Read one batch and hand it to the lanes; returns how many entries were read."""
        await self._lanes.calm(MAX_OPEN)
        entries: list[Entry] = []
        if time.monotonic() - self._last_keep > KEEP_EVERY_S:
            self._last_keep = time.monotonic()
            await self._stream.keep(list(self._open))
            entries = await self._stream.reclaim(self._open)
        if not entries:
            entries = await self._stream.read(block_ms=block_ms, open_ids=self._open)
        for entry_id, body in entries:
            self._dispatch(entry_id, body)
        return len(entries)

    async def settle(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every entry read so far is finished (for tests and a clean stop)."""
        if waiting := [task for task in self._open.values() if task is not None]:
            await asyncio.wait(waiting, timeout=timeout)
        if self._acking is not None:
            await asyncio.wait([self._acking], timeout=timeout)

    def _dispatch(self, entry_id: str, body: str) -> None:
        if entry_id in self._open:
            return
        try:
            jobs = self._split(entry_id, body)
        except Exception as exc:  # a parser bug must not stop the inbox; the body is dropped
            log.error("%s update not readable: %s", self._what, type(exc).__name__)
            jobs = []
        futures = [self._lanes.submit(lane, job) for lane, job in jobs]
        if futures:
            self._open[entry_id] = asyncio.create_task(self._finish(entry_id, futures))
        else:  # nothing to wait for (an update kind not handled, a body not for this number)
            self._open[entry_id] = None
            self._done(entry_id)

    async def _finish(self, entry_id: str, futures: list[asyncio.Future[None]]) -> None:
        try:
            if futures:
                await asyncio.gather(*futures)
        except asyncio.CancelledError:
            self._open.pop(entry_id, None)
            raise
        self._done(entry_id)

    def _done(self, entry_id: str) -> None:
        self._finished.append(entry_id)
        if self._acking is None or self._acking.done():
            self._acking = asyncio.create_task(self._acknowledge())

    async def _acknowledge(self) -> None:
        """Entries finished together are acknowledged in one round trip, as they were stored."""
        while self._finished:
            batch, self._finished = self._finished, []
            try:
                await self._stream.done(batch)
            except Exception as exc:  # stay pending: taken up again later, their marks say what is done
                log.error("%s updates handled but not acknowledged: %s", self._what, type(exc).__name__)
            for entry_id in batch:
                self._open.pop(entry_id, None)
