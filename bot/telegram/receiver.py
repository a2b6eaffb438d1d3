"""Receiving from Telegram: the bot's start (token check, command menu, webhook or not) and, in polling
mode, the long poll. Every update is stored in the inbox before Telegram is told it arrived: a webhook
answers 200 only after the XADD (bot/web.py), and polling confirms an offset only by the next getUpdates,
which is sent after the page before it was stored. What Telegram sends again is counted once by its
update id (bot/telegram/marks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.settings import ConfigurationError, Settings, TelegramMode
from bot.telegram.api import TelegramAPI
from bot.telegram.updates import ALLOWED_UPDATES
from broadcasts.outcome import SendError, SendProblem

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
# Long-poll timeout for getUpdates: Telegram answers at once when something waits, else after this.
POLL_TIMEOUT_S = 10
POLL_LIMIT = 100
# After a failed poll (network, Telegram away, another instance polling) the next try waits this long.
POLL_PAUSE_S = 1.0

# The command menu, in the order residents see it.
COMMANDS = {
    "de": [
        ("themen", "Themen anzeigen und auswählen"),
        ("abo", "Ein Thema abonnieren"),
        ("abbestellen", "Ein Thema oder alle abbestellen"),
        ("faq", "Antworten auf häufige Fragen"),
        ("sprache", "Sprache wählen (de/en)"),
        ("datenschutz", "Datenschutz und Netiquette"),
        ("meinedaten", "Meine gespeicherten Daten"),
        ("loeschen", "Alle meine Daten löschen"),
        ("hilfe", "Hilfe"),
    ],
    "en": [
        ("topics", "Show and choose topics"),
        ("subscribe", "Subscribe to a topic"),
        ("unsubscribe", "Unsubscribe from a topic or all"),
        ("faq", "Answers to common questions"),
        ("language", "Choose your language (de/en)"),
        ("privacy", "Privacy and netiquette"),
        ("mydata", "The data stored about me"),
        ("delete", "Erase all my data"),
        ("help", "Help"),
    ],
}


class TelegramStartError(RuntimeError):
    """The bot cannot start; the message tells the operator what to fix."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where Telegram should POST updates (TELEGRAM_WEBHOOK_URL + WEBHOOK_PATH) and the secret it echoes."""

    url: str
    secret: str


def webhook_target(settings: Settings) -> WebhookTarget | None:
    """Where Telegram posts updates in webhook mode; None when polling."""
    if settings.telegram_mode is not TelegramMode.WEBHOOK:
        return None
    # Settings validation guarantees both in webhook mode; this keeps the types honest.
    if settings.telegram_webhook_url is None or settings.telegram_webhook_secret is None:
        raise ConfigurationError(
            "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET"
        )
    return WebhookTarget(settings.telegram_webhook_url, settings.telegram_webhook_secret.get_secret_value())


class TelegramReceiver:
    def __init__(
        self,
        api: TelegramAPI,
        webhook: WebhookTarget | None,
        store: Callable[[list[str]], Awaitable[None]],
    ) -> None:
        self._api = api
        self._webhook = webhook
        self._store = store
        self.running = False

    async def start(self) -> None:
        try:
            await self._api.call("getMe", {})
        except SendError as error:
            if error.problem is SendProblem.UNAVAILABLE:
                raise TelegramStartError(
                    f"cannot reach the Bot API at TELEGRAM_API_URL ({error.detail})"
                ) from None
            raise TelegramStartError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (getMe answered 401/404); "
                "copy the token from @BotFather again"
            ) from None
        for language, commands in COMMANDS.items():
            params: dict[str, Any] = {"commands": [{"command": n, "description": d} for n, d in commands]}
            if language != "de":
                params["language_code"] = language
            await self._api.call("setMyCommands", params)
        if self._webhook is not None:
            await self._api.call("setWebhook", {
                "url": self._webhook.url.rstrip("/") + WEBHOOK_PATH,
                "secret_token": self._webhook.secret,
                "allowed_updates": ALLOWED_UPDATES,
            })  # fmt: skip
        else:
            # A webhook left from an earlier configuration would refuse every getUpdates.
            await self._api.call("deleteWebhook", {"drop_pending_updates": False})
        self.running = True

    async def poll(self, stop: asyncio.Event) -> None:
        """Long-poll until `stop`; each page is stored before the next request confirms it."""
        offset: int | None = None
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                params: dict[str, Any] = {"timeout": POLL_TIMEOUT_S, "limit": POLL_LIMIT,
                                          "allowed_updates": ALLOWED_UPDATES}  # fmt: skip
                if offset is not None:
                    params["offset"] = offset
                asking = asyncio.create_task(self._api.call("getUpdates", params))
                await asyncio.wait({asking, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not asking.done():  # stopping: an unanswered long poll confirms nothing
                    asking.cancel()
                    await asyncio.gather(asking, return_exceptions=True)
                    break
                try:
                    offset = await self._take(asking.result(), offset)
                except Exception as exc:
                    wait = exc.retry_after if isinstance(exc, SendError) and exc.retry_after else POLL_PAUSE_S
                    log.warning("telegram: getUpdates failed: %s", _kind(exc))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)

    async def _take(self, updates: Any, offset: int | None) -> int | None:
        if not isinstance(updates, list):
            return offset
        numbered = [
            (u["update_id"], u)
            for u in updates
            if isinstance(u, dict) and isinstance(u.get("update_id"), int)
        ]
        if numbered:
            await self._store([json.dumps(update, ensure_ascii=False) for _, update in numbered])
            offset = max(number for number, _ in numbered) + 1
        return offset

    async def stop(self) -> None:
        self.running = False


def _kind(exc: Exception) -> str:
    return exc.problem.value if isinstance(exc, SendError) else type(exc).__name__
