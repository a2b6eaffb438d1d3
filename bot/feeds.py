"""Press releases and partner feeds (RSS or Atom) into the desk: fetched with the bounded fetcher, parsed
from the bytes fetched (feedparser's own HTTP has no timeout and is never used), each new item taken once.

feedparser was chosen over fastfeedparser: it is slower, but feeds of a city's press office hold a few
dozen items every few minutes, and it reads the broken feeds the world publishes (missing guids,
wrong encodings, HTML in titles), which matters more here than speed.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import feedparser

from bot.assembly import source_publisher
from bot.fetching import Fetcher, FetchError
from bot.loops import every
from bot.polling import Malformed, Poller
from bot.storage.client import Storage
from broadcasts.engine import Engine
from broadcasts.feed_desk import FeedDesk
from broadcasts.feeds import IMAGE_TEXT_LIMIT, TEXT_LIMIT, FeedItem, item_text, route
from broadcasts.images import MAX_BYTES as IMAGE_BYTES
from broadcasts.images import image_name
from broadcasts.model import Broadcast, State
from broadcasts.sources import Sources, Validators
from city.config import City
from city.feeds import Feed
from handlers.router import Services
from handlers.source_notices import health_replies
from handlers.staff_feeds import feed_draft_replies, source_id
from handlers.values import Reply

log = logging.getLogger(__name__)

# A press feed is tens of kilobytes; presseportal's run to a few hundred. More is not a feed we want.
MAX_BYTES = 2 * 1024 * 1024
TIMEOUT_S = 20.0
# How often the loop looks whether a feed is due (each has its own poll_minutes).
TICK_S = 30.0
# An item's identity is remembered this long; feeds drop items after days or weeks.
KEEP_SEEN_S = 180 * 24 * 3600.0


def parse(body: bytes) -> list[FeedItem]:
    """The items of an RSS or Atom document, newest first as feeds list them. Raises Malformed."""
    try:
        # As a stream: feedparser tries a bytes argument as a local file name first, so a feed whose
        # body were "/proc/self/environ" would be read from disk.
        parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is lenient; what it still raises on is a broken document
        raise Malformed(type(exc).__name__) from None
    items = [item for entry in parsed.get("entries") or [] if (item := _item(entry)) is not None]
    # feedparser reads what it can of a broken document; one that yields nothing usable is no feed.
    if not parsed.get("version") or (parsed.get("bozo") and not items):
        raise Malformed(type(parsed.get("bozo_exception")).__name__ if parsed.get("bozo") else "not a feed")
    return items


def _item(entry: Any) -> FeedItem | None:
    title = str(entry.get("title") or "")
    link = str(entry.get("link") or "")
    identity = str(entry.get("id") or "") or (f"{link}\n{title}" if link or title else "")
    if not identity:
        return None  # nothing to know it by again: taking it would repeat it on every poll
    contents = entry.get("content") or []
    body = str(contents[0].get("value") or "") if contents else ""
    body = body or str(entry.get("summary") or "")
    return FeedItem(identity, title, body, link if link.startswith(("https://", "http://")) else "",
                    _image(entry))  # fmt: skip


class Images:
    """A feed item's picture, fetched once (bounded like the feed), to be kept with its broadcast.
    Anything but a JPEG or PNG of at most 5 MB is left out."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher

    async def fetch(self, url: str) -> bytes | None:
        try:
            fetched = await self._fetcher.get(url, Validators(), accept="image/jpeg, image/png")
        except FetchError as error:
            log.warning("a feed item's image not fetched: %s", error.kind)
            return None
        body = fetched.body or b""
        if image_name(body) is None:
            log.warning("a feed item's image is neither JPEG nor PNG; left out")
            return None
        return body


def _image(entry: Any) -> str:
    """The item's picture: an image enclosure, or Media RSS content or thumbnail."""
    candidates = [
        *(
            e.get("href")
            for e in entry.get("enclosures") or []
            if str(e.get("type", "")).startswith("image/")
        ),
        *(m.get("url") for m in entry.get("media_content") or [] if m.get("medium", "image") == "image"),
        *(m.get("url") for m in entry.get("media_thumbnail") or []),
    ]
    return next((str(url) for url in candidates if str(url or "").startswith(("https://", "http://"))), "")


@dataclass
class FeedSource:
    """One feed as a polled source (bot/polling.py); collects what it created for the editors to hear."""

    feed: Feed
    sources: Sources
    desk: FeedDesk
    images: Images
    created: list[Broadcast] = field(default_factory=list)

    @property
    def source_id(self) -> str:
        return source_id(self.feed)

    @property
    def url(self) -> str:
        return self.feed.url

    def every_s(self) -> float:
        return self.feed.poll_minutes * 60

    async def take(self, body: bytes, now: datetime) -> int:
        """New items become drafts (or digest items, or broadcasts) once each. The whole document is read
        before anything is taken, so a broken one leaves nothing half done. A feed read for the first
        time only learns what it holds: a press office adding its feed wants new releases, not its
        archive as a pile of drafts."""
        # A few hundred milliseconds for a large feed: in a thread, so that sending never waits on it.
        items = await asyncio.to_thread(parse, body)
        first = (await self.sources.status(self.source_id)).last_good is None
        new = 0
        for item in reversed(items):  # oldest first, so drafts are numbered in the feed's order
            if not await self.sources.first_time(self.source_id, item.identity, now, keep_s=KEEP_SEEN_S):
                continue
            topics = route(self.feed, item)
            if first or not topics:
                continue
            image = await self.images.fetch(item.image) if item.image else None
            text = item_text(item, IMAGE_TEXT_LIMIT if image else TEXT_LIMIT)
            self.created.append(await self.desk.take(self.feed, topics, text, image, now))
            new += 1
        return new


class FeedLoop:
    """Polls the city file's feeds (as of now: a reload adds or drops them) and returns what staff hear."""

    def __init__(
        self,
        *,
        city: Callable[[], City],
        services: Services,
        sources: Sources,
        poller: Poller,
        desk: FeedDesk,
        images: Images,
        send: Callable[[list[Reply]], Awaitable[None]],
    ) -> None:
        self._city = city
        self._services = services
        self._sources = sources
        self._poller = poller
        self._desk = desk
        self._images = images
        self._send = send
        # One round at a time in this process; other processes are kept out by each feed's lease.
        self._round = asyncio.Lock()

    async def run(self, stopping: asyncio.Event) -> None:
        await every(TICK_S, self.tick, stopping, "feeds")

    def _source(self, feed: Feed) -> FeedSource:
        return FeedSource(feed, self._sources, self._desk, self._images)

    async def tick(self) -> None:
        """Poll every feed that is due; one feed's failure never keeps the others from their turn."""
        async with self._round:
            await self._poll_all()

    async def _poll_all(self) -> None:
        for feed in self._city().feeds:
            source = self._source(feed)
            try:
                change = await self._poller.poll(source)
            except Exception as exc:
                log.error("feed %s not polled: %s", feed.id, type(exc).__name__)
                continue
            replies = health_replies(self._city(), self._services.texts, change) if change else []
            # Drafts only: a digest item is read in the digest, a published one by everyone.
            for draft in (created for created in source.created if created.state is State.DRAFT):
                replies += feed_draft_replies(self._services, feed, draft)
            if replies:
                await self._send(replies)

    async def release(self) -> None:
        """Give up the leases at shutdown, so that another process polls at once."""
        for feed in self._city().feeds:
            await self._poller.release(self._source(feed))


def feed_loop(
    *,
    storage: Storage,
    session: aiohttp.ClientSession | None,
    engine: Engine | None,
    services: Services | None,
    worker: str,
    clock: Callable[[], datetime],
    send: Callable[[list[Reply]], Awaitable[None]],
    timeout_s: float = TIMEOUT_S,
    max_bytes: int = MAX_BYTES,
) -> FeedLoop | None:
    """The feeds' poller under the shared source ledger, publishing through the desk's own rules; None
    while the service is not (any more) fully built."""
    if session is None or engine is None or services is None:
        return None
    sources = services.sources or Sources(storage.redis, storage.keys, down_after=3, lease_s=120)
    desk = FeedDesk(
        store=engine.store, publisher=source_publisher(storage, engine, services.city), audit=services.audit,
        city=services.city,
    )  # fmt: skip
    fetcher = Fetcher(session, timeout_s=timeout_s, max_bytes=max_bytes)
    poller = Poller(sources, fetcher, worker=worker, clock=clock)
    images = Images(Fetcher(session, timeout_s=timeout_s, max_bytes=IMAGE_BYTES))
    return FeedLoop(
        city=services.city, services=services, sources=sources, poller=poller, desk=desk, images=images,
        send=send,
    )  # fmt: skip
