"""Polling outside sources for items, one process at a time: the warnings API, press feeds.

Each poll runs under the source's lease and only when its interval has passed, asks with the validators
of the last answer, and hands a changed document to the source's own `take`. A failure is counted; the
admins hear of a source once when it goes down and once when it comes back (broadcasts/sources.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.fetching import Fetcher, FetchError
from broadcasts.sources import HealthChange, Sources

log = logging.getLogger(__name__)


class Malformed(Exception):
    """The document arrived but cannot be read; nothing of it was taken up."""


class Source(Protocol):
    @property
    def source_id(self) -> str: ...

    @property
    def url(self) -> str: ...

    def every_s(self) -> float:
        """Seconds between polls, as of now (a source may poll faster while something is active)."""
        ...

    async def take(self, body: bytes, now: datetime) -> int:
        """Take up the document's new items; returns how many were new. Raises Malformed."""
        ...


class Poller:
    def __init__(
        self, sources: Sources, fetcher: Fetcher, *, worker: str, clock: Callable[[], datetime]
    ) -> None:
        self._sources = sources
        self._fetcher = fetcher
        self._worker = worker
        self._clock = clock

    async def poll(self, source: Source) -> HealthChange | None:
        """One poll if this process leads the source and it is due; what the admins must hear, if anything."""
        source_id = source.source_id
        if not await self._sources.lead(source_id, self._worker):
            return None
        now = self._clock()
        if not await self._sources.due(source_id, source.every_s(), now):
            return None
        try:
            fetched = await self._fetcher.get(source.url, await self._sources.validators(source_id))
            new = await source.take(fetched.body, now) if fetched.body is not None else 0
        except FetchError as error:
            log.warning("source %s not polled: %s", source_id, error.kind)
            return await self._sources.failed(source_id, now, error.kind)
        except Malformed as error:
            log.warning("source %s sent a document that cannot be read: %s", source_id, error)
            return await self._sources.failed(source_id, now, "malformed")
        if new:
            log.info("source %s: %d new items", source_id, new)
        return await self._sources.succeeded(source_id, now, fetched.validators, new_items=new)

    async def release(self, source: Source) -> None:
        await self._sources.release(source.source_id, self._worker)
