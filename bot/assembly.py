"""Wiring of the broadcast engine: one limiter, queue and sender per channel, sharing Redis."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import partial

from bot.control import Announcement, ControlChannel
from bot.settings import Settings
from bot.storage.client import Storage
from bot.storage.idhash import audit_secret
from bot.storage.rewrite import DiskRewrite
from bot.whatsapp.marks import WhatsAppMarks
from broadcasts.audit import AuditLog
from broadcasts.channel import ChannelClient, Pacing
from broadcasts.desk import Desk
from broadcasts.digest import DigestLoader
from broadcasts.engine import Engine
from broadcasts.erasure import drop_resident
from broadcasts.limiter import DEFAULT_REPLY_SHARE, Limiter, strict_burst
from broadcasts.message_ids import MessageIds
from broadcasts.outcome import SubscriberCare
from broadcasts.planner import Planner
from broadcasts.publisher import Publisher
from broadcasts.queue import DeliveryQueue
from broadcasts.reply_pacer import ReplyPacer, nobody
from broadcasts.scheduler import Scheduler
from broadcasts.sender import MAX_BATCH, Sender
from broadcasts.spam_limit import SpamLimit
from broadcasts.store import BroadcastStore
from broadcasts.timeline import Item, Timeline
from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, ResidentRecord
from handlers.rendering import composer, topic_namer
from handlers.staff_common import SANDBOX_STAFF
from handlers.texts import Texts


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


# Senders reserve this far ahead and wait for each token's time, so that their own round trips never
# cost a sending slot; an alert waits at most this long behind a batch already reserved.
RESERVE_AHEAD_S = 0.25


def limiter_for(
    storage: Storage,
    client: ChannelClient,
    account: str,
    margin: float,
    *,
    city: Callable[[], City] | None = None,
) -> Limiter:
    """The budget of one bot token or number; with the city, the reply lanes' share is its `reply_share`."""
    rate = client.pacing.overall
    return Limiter(
        storage.redis,
        storage.keys.limiter(client.channel, account),
        rate,
        margin=margin,
        burst=strict_burst(rate, margin),
        horizon=RESERVE_AHEAD_S,
        share=(lambda: city().reply_share) if city is not None else (lambda: DEFAULT_REPLY_SHARE),
    )


def residents_for(storage: Storage, tz: tzinfo, hasher: Callable[[str], str]) -> Residents:
    """The residents' store, wired so that an erasure reaches everything kept about the resident: every
    process that may erase someone (the service, the senders' "chat not found", the retention sweep, the
    command line) builds it here, so that each erases exactly what /loeschen does. Out of the audiences
    first (Residents.erase), then their queued and claimed deliveries and their WhatsApp marks; once all
    is gone, the append-only file's rewrite is due."""
    residents = Residents(storage.redis, storage.keys, tz)
    residents.forgetters.append(partial(drop_resident, storage.redis, storage.keys, hasher))
    residents.forgetters.append(WhatsAppMarks(storage.redis, storage.keys, hasher).forget)
    residents.forgetters.append(MessageIds(storage.redis, storage.keys).forget)
    residents.erased.append(DiskRewrite(storage.redis, storage.keys).note)
    return residents


def build_engine(
    *,
    storage: Storage,
    city: Callable[[], City],
    channels: Sequence[tuple[ChannelClient, Limiter]],
    care: SubscriberCare,
    hasher: Callable[[str], str],
    worker: str,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    # The catalogs a broadcast's words come from: the packaged ones unless the caller shares its own.
    texts: Texts | None = None,
) -> Engine:
    texts = texts or Texts.load()
    store = BroadcastStore(storage.redis, storage.keys)
    compose = composer(city, texts)
    spam = SpamLimit(store, city)
    senders = [
        Sender(
            queue=DeliveryQueue(storage.redis, storage.keys, client.channel, worker),
            client=client,
            store=store,
            limiter=limiter,
            care=care,
            hasher=hasher,
            compose=compose,
            clock=clock,
            spam=spam,
            sleep=sleep,
            batch=max(1, min(MAX_BATCH, limiter.burst_tokens)),
            tz=city().tz,
        )
        for client, limiter in channels
    ]
    planner = Planner(
        storage.redis,
        storage.keys,
        hasher,
        city,
        [client.channel for client, _ in channels],
        digests=DigestLoader(Timeline(storage.redis, storage.keys, store), city, topic_namer(city, texts)),
        reconsent=reconsent_request(city, texts),
    )
    return Engine(
        redis=storage.redis,
        keys=storage.keys,
        store=store,
        planner=planner,
        senders=senders,
        spam=spam,
        worker=worker,
        clock=clock,
        sleep=sleep,
        tz=city().tz,
    )


def reconsent_request(city: Callable[[], City], texts: Texts) -> Callable[[str, Channel], str]:
    """The one message to a resident on an older privacy notice: news waits for their consent."""

    def request(language: str, channel: Channel) -> str:
        key = "reconsent_request_whatsapp" if channel is Channel.WHATSAPP else "reconsent_request"
        current = city()
        return texts(language, key, city=current.name, version=current.privacy.version)

    return request


@dataclass(frozen=True, slots=True)
class Editorial:
    """The desk staff work at and the scheduler that sends what is due, sharing one publisher; and what
    residents may look up of what was published."""

    desk: Desk
    scheduler: Scheduler
    publisher: Publisher
    digests: DigestLoader
    audit: AuditLog
    clock: Callable[[], datetime]

    async def recent_items(self, topic_id: str, count: int) -> list[Item]:
        return await self.publisher.timeline.latest(topic_id, count)

    async def pending_digest(self, record: ResidentRecord) -> list[str]:
        """What a resident who reads digests would get in their next one, as of now."""
        now = self.clock()
        run = await self.digests.between(await self.scheduler.cutoff(now), now)
        return run.parts(record.topics, record.language, record.daily_since)


def build_editorial(
    *,
    redis: RedisClient,
    keys: Keys,
    engine: Engine,
    city: Callable[[], City],
    residents: Residents,
    clock: Callable[[], datetime],
    audit: AuditLog,
    on_schedule: Callable[[], Awaitable[object]] | None = None,
    texts: Texts | None = None,
) -> Editorial:
    timeline = Timeline(redis, keys, engine.store)
    publisher = Publisher(
        redis=redis, keys=keys, engine=engine, timeline=timeline, city=city, on_schedule=on_schedule
    )
    desk = Desk(
        store=engine.store,
        engine=engine,
        audit=audit,
        city=city,
        audience=residents.audience_size,
        digest_audience=residents.digest_audience_size,
        publisher=publisher,
        clock=clock,
        redis=redis,
        keys=keys,
    )
    scheduler = Scheduler(
        redis=redis, keys=keys, store=engine.store, publisher=publisher, audit=audit, city=city
    )
    digests = DigestLoader(timeline, city, topic_namer(city, texts or Texts.load()))
    return Editorial(desk, scheduler, publisher, digests, audit, clock)


def source_publisher(storage: Storage, engine: Engine, city: Callable[[], City]) -> Publisher:
    """The publisher of what outside sources (feeds, official warnings) bring: every process re-arms its
    timer when something is scheduled, as for staff's broadcasts."""
    control = ControlChannel(storage.redis, storage.keys)
    return Publisher(
        redis=storage.redis, keys=storage.keys, engine=engine, city=city,
        timeline=Timeline(storage.redis, storage.keys, engine.store),
        on_schedule=lambda: control.announce(Announcement.SCHEDULE_CHANGED),
    )  # fmt: skip


def audit_log(storage: Storage, settings: Settings) -> AuditLog:
    """The audit log, keyed with AUDIT_HMAC_SECRET or the secret generated in DATA_DIR."""
    return AuditLog(storage.redis, storage.keys, audit_secret(settings))


def reply_pacer(
    client: ChannelClient,
    limiter: Limiter,
    hasher: Callable[[str], str],
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    *,
    city: Callable[[], City] | None = None,
    pacing: Pacing | None = None,
) -> ReplyPacer:
    """The pacer of a channel's answers (at the channel's pacing unless the channel paces answers apart
    from broadcasts); with the city, its staff's chats take the staff lane."""
    return ReplyPacer(
        channel=client.channel,
        limiter=limiter,
        pacing=pacing or client.pacing,
        hasher=hasher,
        clock=clock,
        sleep=sleep,
        staff=staff_chats(client.channel, city) if city is not None else nobody,
    )


def staff_chats(channel: Channel, city: Callable[[], City]) -> Callable[[str], bool]:
    """Whether a chat of `channel` is a staff member's, by the city file as it is now."""

    def is_staff(chat_id: str) -> bool:
        current = city()
        if channel is Channel.TELEGRAM:
            return chat_id.isdigit() and current.staff_by_telegram(int(chat_id)) is not None
        if channel is Channel.WHATSAPP:
            return current.staff_by_whatsapp(chat_id) is not None
        return chat_id.startswith(SANDBOX_STAFF)

    return is_staff
