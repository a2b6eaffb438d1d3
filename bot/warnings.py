"""Official warnings (NINA) polled from WARNINGS_API_URL: the district's dashboard by conditional GET
under the shared polled-source ledger (one process at a time), each new version's CAP detail fetched
once, and what the warning desk made of it handed on (approvers asked under `send: approval`).

A detail the API does not have (404, as happens for some dashboard ids) falls back to the dashboard's
headline; any other failure fails the whole poll, so that the next one asks again for all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp

from bot.assembly import source_publisher
from bot.fetching import Fetcher, FetchError
from bot.loops import every
from bot.polling import Malformed, Poller
from bot.services import LEASE_S
from bot.storage.client import Storage
from broadcasts.engine import Engine
from broadcasts.message_ids import MessageIds
from broadcasts.model import Broadcast, State
from broadcasts.sources import Sources, Validators
from broadcasts.warning_desk import WarningDesk
from broadcasts.warning_documents import Detail, Listed, Unreadable, parse_dashboard, parse_detail
from broadcasts.warning_threads import Threads, source_id
from city.config import City
from city.warnings import MIN_POLL_SECONDS, Warnings
from handlers.router import Services
from handlers.source_notices import health_replies
from handlers.staff_warnings import warning_request_replies
from handlers.values import Reply

log = logging.getLogger(__name__)

# A district's dashboard is a few kilobytes; a CAP detail with its areas some tens.
MAX_BYTES = 2 * 1024 * 1024
TIMEOUT_S = 10.0
# How often the loop looks whether a poll is due: the delay a warning adds on top of poll_seconds.
TICK_S = 0.5
# The admins hear of an outage after this many failed polls in a row (not of one slow answer).
DOWN_AFTER = 5
# How often a process looks for warnings whose expiry passed.
EXPIRY_EVERY = timedelta(seconds=30)


@dataclass
class WarningSource:
    """The district's dashboard as a polled source (bot/polling.py); collects what it made."""

    config: Warnings
    api_url: str
    desk: WarningDesk
    fetcher: Fetcher
    severe: bool = False
    taken: list[Broadcast] = field(default_factory=list)

    @property
    def source_id(self) -> str:
        return source_id(self.config)

    @property
    def url(self) -> str:
        return f"{self.api_url.rstrip('/')}/dashboard/{self.config.ars}.json"

    def every_s(self) -> float:
        """`poll_seconds`, and no more than 30 while a Severe or Extreme warning is active."""
        return min(self.config.poll_seconds, MIN_POLL_SECONDS) if self.severe else self.config.poll_seconds

    async def take(self, body: bytes, now: datetime) -> int:
        try:
            listed = parse_dashboard(body)
        except Unreadable as error:
            raise Malformed(str(error)) from None
        new = 0
        for item in listed:
            if not await self.desk.needed(item):
                continue
            taken = await self.desk.take(item, await self._detail(item), now)
            if taken is not None:
                self.taken.append(taken)
                new += 1
        await self.desk.close_gone(listed, now)
        self.severe = await self.desk.severe_active()
        return new

    async def _detail(self, item: Listed) -> Detail | None:
        url = f"{self.api_url.rstrip('/')}/warnings/{item.id}.json"
        try:
            fetched = await self.fetcher.get(url, Validators(), accept="application/json")
        except FetchError as error:
            if error.kind == "HTTP 404":
                return None
            raise
        try:
            return parse_detail(fetched.body or b"")
        except Unreadable as error:
            log.warning("a warning's detail cannot be read (%s); its dashboard text stands", error)
            return None


class WarningLoop:
    """Polls the city's warnings (as the city file stands now) and returns what staff must hear."""

    def __init__(
        self,
        *,
        city: Callable[[], City],
        services: Services,
        poller: Poller,
        desk: WarningDesk,
        fetcher: Fetcher,
        api_url: str,
        clock: Callable[[], datetime],
        send: Callable[[list[Reply]], Awaitable[None]],
    ) -> None:
        self._city = city
        self._services = services
        self._poller = poller
        self._desk = desk
        self._fetcher = fetcher
        self._api_url = api_url
        self._send = send
        self._source: WarningSource | None = None
        self._round = asyncio.Lock()
        self._clock = clock
        self._expiry_checked: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        await every(TICK_S, self.tick, stopping, "warnings")

    def source(self) -> WarningSource | None:
        """The source for the city file as it stands (a reload may add, change or drop the section)."""
        config = self._city().warnings
        if config is None:
            self._source = None
        elif self._source is None or self._source.config != config:
            self._source = WarningSource(config, self._api_url, self._desk, self._fetcher)
        return self._source

    async def tick(self) -> None:
        async with self._round:
            source = self.source()
            if source is None:
                return
            try:
                change = await self._poller.poll(source)
                await self._close_expired()
            finally:
                taken, source.taken = source.taken, []
            city = self._city()
            replies = health_replies(city, self._services.texts, change) if change else []
            for broadcast in taken:
                if broadcast.state is State.PENDING_APPROVAL:
                    replies += warning_request_replies(
                        self._services, broadcast, update=bool(broadcast.follows)
                    )
            if replies:
                await self._send(replies)

    async def _close_expired(self) -> None:
        """A warning whose expiry passed ends even while the dashboard answers 304."""
        now = self._clock()
        if self._expiry_checked is None or now - self._expiry_checked >= EXPIRY_EVERY:
            self._expiry_checked = now
            await self._desk.close_gone(None, now)

    async def release(self) -> None:
        if self._source is not None:
            await self._poller.release(self._source)


def warning_loop(
    *,
    storage: Storage,
    session: aiohttp.ClientSession | None,
    engine: Engine | None,
    services: Services | None,
    api_url: str,
    worker: str,
    clock: Callable[[], datetime],
    send: Callable[[list[Reply]], Awaitable[None]],
    timeout_s: float = TIMEOUT_S,
) -> WarningLoop | None:
    """The warnings' poller on the shared source ledger; None while the service is not fully built.
    It runs whether or not the city file has a `warnings:` section, since a reload may add one."""
    if session is None or engine is None or services is None:
        return None
    sources = Sources(storage.redis, storage.keys, down_after=DOWN_AFTER, lease_s=LEASE_S)
    desk = WarningDesk(
        store=engine.store, publisher=source_publisher(storage, engine, services.city),
        audit=services.audit, threads=Threads(storage.redis, storage.keys), city=services.city,
        message_ids=MessageIds(storage.redis, storage.keys),
    )  # fmt: skip
    fetcher = Fetcher(session, timeout_s=timeout_s, max_bytes=MAX_BYTES)
    poller = Poller(sources, fetcher, worker=worker, clock=clock)
    return WarningLoop(
        city=services.city, services=services, poller=poller, desk=desk, fetcher=fetcher,
        api_url=api_url, clock=clock, send=send,
    )  # fmt: skip
