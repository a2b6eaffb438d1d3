"""Wiring of the WhatsApp bridge for the composition root: the channel the engine sends through, then the
adapter and inbox that answer the webhook. Nothing here runs unless all four WhatsApp secrets are set."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from bot.assembly import limiter_for, reply_pacer
from bot.inbox.answers import Answers
from bot.inbox.consumer import InboxConsumer
from bot.inbox.flood import FloodGate
from bot.inbox.lanes import Lanes
from bot.inbox.stream import InboxStream
from bot.inbox.turn import Turns
from bot.outbound import Outbound
from bot.settings import Settings
from bot.storage.client import Storage
from bot.storage.rewrite import DiskRewrite
from bot.web import WhatsAppHook
from bot.whatsapp.adapter import WhatsAppAdapter
from bot.whatsapp.api import WhatsAppAPI
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.marks import WhatsAppMarks
from broadcasts.approval import topics_of
from broadcasts.engine import Engine
from broadcasts.limiter import Limiter
from broadcasts.model import Broadcast
from city.config import City
from city.residents import Residents
from city.values import Channel
from handlers.conversation import Conversation

# Audience members read per SSCAN page when counting closed windows for a preview.
AUDIENCE_PAGE = 1000


@dataclass(frozen=True, slots=True)
class WhatsAppParts:
    api: WhatsAppAPI
    channel: WhatsAppChannel
    limiter: Limiter
    marks: WhatsAppMarks


def whatsapp_parts(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    storage: Storage,
    hasher: Callable[[str], str],
    city: Callable[[], City],
    clock: Callable[[], datetime],
) -> WhatsAppParts | None:
    """The Graph API client, the broadcast channel and its limiter; None when WhatsApp is not configured."""
    token, number = settings.whatsapp_access_token, settings.whatsapp_phone_number_id
    if not settings.whatsapp_enabled or token is None or number is None:
        return None
    api = WhatsAppAPI(
        session, settings.whatsapp_api_url, settings.whatsapp_api_version, number, token.get_secret_value()
    )
    # Erasure forgets the marks through its own instance (bot/assembly.residents_for), in every process.
    marks = WhatsAppMarks(storage.redis, storage.keys, hasher)
    channel = WhatsAppChannel(api, settings.whatsapp_rate_limit, marks, city, clock)
    # One budget per phone number id, shared by every process.
    limiter = limiter_for(storage, channel, number, settings.rate_limit_margin, city=city)
    return WhatsAppParts(api, channel, limiter, marks)


def whatsapp_adapter(
    parts: WhatsAppParts,
    *,
    settings: Settings,
    storage: Storage,
    engine: Engine,
    conversation: Conversation,
    residents: Residents,
    hasher: Callable[[str], str],
    worker: str,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    outbound: Outbound,
    lanes: Lanes,
    flood: FloodGate,
    city: Callable[[], City] | None = None,
) -> tuple[WhatsAppAdapter, InboxConsumer]:
    adapter = WhatsAppAdapter(
        api=parts.api,
        channel=parts.channel,
        phone_number_id=settings.whatsapp_phone_number_id or "",
        conversation=conversation,
        residents=residents,
        marks=parts.marks,
        engine=engine,
        pacer=reply_pacer(
            parts.channel, parts.limiter, hasher, clock, sleep, city=city, pacing=parts.channel.reply_pacing
        ),
        turns=Turns(Answers(storage.redis, storage.keys, Channel.WHATSAPP), flood, conversation),
        clock=clock,
        outbound=outbound,
    )
    disk = DiskRewrite(storage.redis, storage.keys)
    stream = InboxStream(storage.redis, storage.keys.whatsapp_inbox(), worker, handled=disk.note)
    return adapter, InboxConsumer(stream, adapter.split, lanes, what="whatsapp")


def template_counter(
    parts: WhatsAppParts, storage: Storage, city: Callable[[], City], clock: Callable[[], datetime]
) -> Callable[[Broadcast], Awaitable[int]]:
    """For the desk's preview: how many WhatsApp recipients are outside their window right now."""

    async def count(broadcast: Broadcast) -> int:
        seen: set[str] = set()
        closed = 0
        for topic in sorted(topics_of(city(), broadcast.topics)):
            key = storage.keys.audience(topic, Channel.WHATSAPP)
            cursor = 0
            while True:
                cursor, members = await storage.redis.sscan(key, cursor, count=AUDIENCE_PAGE)
                fresh = [str(member) for member in members if member not in seen]
                seen.update(fresh)
                closed += await parts.marks.closed_windows(fresh, clock()) if fresh else 0
                if cursor == 0:
                    break
        return closed

    return count


def whatsapp_hook(settings: Settings, inbox: InboxStream | None) -> WhatsAppHook | None:
    """The webhook's secrets and where it stores what it accepts; None without WhatsApp."""
    if inbox is None or settings.whatsapp_app_secret is None or settings.whatsapp_verify_token is None:
        return None
    return WhatsAppHook(
        verify_token=settings.whatsapp_verify_token.get_secret_value(),
        app_secret=settings.whatsapp_app_secret.get_secret_value(),
        accept=inbox.accept,
    )
