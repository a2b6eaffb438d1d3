"""Wiring of the Telegram side for the composition root: the adapter that answers, the receiver that
stores what Telegram sends, and the inbox consumer that hands it to the chats' lanes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.assembly import reply_pacer
from bot.channels import TelegramParts
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
from bot.telegram.adapter import TelegramAdapter
from bot.telegram.marks import TelegramMarks
from bot.telegram.receiver import TelegramReceiver, webhook_target
from city.config import City
from city.residents import Residents
from city.values import Channel
from handlers.conversation import Conversation


@dataclass(frozen=True, slots=True)
class TelegramSide:
    adapter: TelegramAdapter
    receiver: TelegramReceiver
    inbox: InboxConsumer
    polling: bool

    async def start(self) -> None:
        """The inbox first: from the moment Telegram knows where to send, what it sends is stored."""
        await self.inbox.stream.prepare()
        await self.receiver.start()


def telegram_side(
    parts: TelegramParts,
    *,
    settings: Settings,
    storage: Storage,
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
) -> TelegramSide:
    turns = Turns(Answers(storage.redis, storage.keys, Channel.TELEGRAM), flood, conversation)
    adapter = TelegramAdapter(
        api=parts.api, conversation=conversation, residents=residents,
        marks=TelegramMarks(storage.redis, storage.keys), turns=turns,
        pacer=reply_pacer(parts.client, parts.limiter, hasher, clock, sleep, city=city), clock=clock,
        outbound=outbound,
    )  # fmt: skip
    disk = DiskRewrite(storage.redis, storage.keys)
    stream = InboxStream(storage.redis, storage.keys.telegram_inbox(), worker, handled=disk.note)
    webhook = webhook_target(settings)
    receiver = TelegramReceiver(parts.api, webhook, stream.accept_all)
    inbox = InboxConsumer(stream, adapter.split, lanes, what="telegram")
    return TelegramSide(adapter, receiver, inbox, polling=webhook is None)
