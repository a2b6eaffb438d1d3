"""The messengers a deployment sends on, each with the send budget it shares with every process.

Built in this one place for the service and for `stadtfunk broadcast`, so that both name the same
budgets and send the same way (paid broadcasting above 30/s included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from bot.assembly import limiter_for
from bot.sandbox.channel import Outbox, SandboxChannel
from bot.sandbox.store import ChatStore
from bot.settings import Settings
from bot.storage.client import Storage
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from bot.whatsapp.wiring import WhatsAppParts, whatsapp_parts
from broadcasts.channel import ChannelClient
from broadcasts.limiter import Limiter
from city.config import City


@dataclass(frozen=True, slots=True)
class TelegramParts:
    token: str
    api: TelegramAPI
    client: TelegramChannel
    limiter: Limiter


@dataclass(frozen=True, slots=True)
class SandboxParts:
    client: SandboxChannel
    limiter: Limiter


@dataclass(frozen=True, slots=True)
class Channels:
    telegram: TelegramParts | None = None
    whatsapp: WhatsAppParts | None = None
    sandbox: SandboxParts | None = None

    def pairs(self) -> list[tuple[ChannelClient, Limiter]]:
        """Each channel's client with its limiter, in the order the engine's senders are built."""
        pairs: list[tuple[ChannelClient, Limiter]] = []
        if self.telegram is not None:
            pairs.append((self.telegram.client, self.telegram.limiter))
        if self.whatsapp is not None:
            pairs.append((self.whatsapp.channel, self.whatsapp.limiter))
        if self.sandbox is not None:
            pairs.append((self.sandbox.client, self.sandbox.limiter))
        return pairs


def build_channels(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    storage: Storage,
    hasher: Callable[[str], str],
    city: Callable[[], City],
    clock: Callable[[], datetime],
    sandbox: bool,
) -> Channels:
    """The sandbox's channel alone when `sandbox`; otherwise every messenger the settings configure."""
    margin = settings.rate_limit_margin
    if sandbox:
        client = SandboxChannel(Outbox(ChatStore(storage.redis, storage.keys)))
        return Channels(
            sandbox=SandboxParts(client, limiter_for(storage, client, "sandbox", margin, city=city))
        )
    telegram = None
    if settings.telegram_enabled and settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value()
        api = TelegramAPI(session, settings.telegram_api_url, token)
        channel = TelegramChannel(
            api, settings.telegram_rate_limit, paid_broadcast=settings.telegram_paid_broadcast
        )
        # The bot id (the token's public half) names the budget that every process shares.
        limiter = limiter_for(storage, channel, token.partition(":")[0], margin, city=city)
        telegram = TelegramParts(token, api, channel, limiter)
    whatsapp = whatsapp_parts(
        settings, session=session, storage=storage, hasher=hasher, city=city, clock=clock
    )
    return Channels(telegram=telegram, whatsapp=whatsapp)
