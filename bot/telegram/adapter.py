"""The Telegram adapter: python-telegram-bot receives updates, the core answers, TelegramAPI replies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.outbound import Outbound
from bot.settings import ConfigurationError, Settings, TelegramMode
from bot.telegram.api import MAX_TEXT, TelegramAPI
from broadcasts.outcome import SendError, SendProblem
from broadcasts.render import split_text
from broadcasts.reply_pacer import ReplyPacer
from city.residents import Residents
from city.values import Channel, Resident
from handlers.conversation import Conversation
from handlers.values import Inbound, Reply

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
# Long-poll timeout for getUpdates: short enough that a shutdown never waits long.
POLL_TIMEOUT_S = 10

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
class Origin:
    """Where an inbound came from, for answering it: a pressed button is answered and may be edited."""

    callback_id: str | None
    message_id: int | None


def to_inbound(update: Update, now: Callable[[], datetime]) -> tuple[Inbound, Origin] | None:
    """Translate an update into the core's value; None for kinds stadtfunk ignores on purpose."""
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or not query.data:
            return None
        inbound = Inbound(
            channel=Channel.TELEGRAM,
            chat_id=str(message.chat.id),
            sender_id=str(query.from_user.id),
            text=query.data,
            message_id=str(message.message_id),
            at=now(),
            is_button=True,
            language_hint=query.from_user.language_code,
            private_chat=message.chat.type == "private",
        )
        return inbound, Origin(query.id, message.message_id)
    message = update.message
    if message is None or message.from_user is None:
        return None
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(message.chat.id),
        sender_id=str(message.from_user.id),
        # Photos, stickers and the like arrive without text and get the same hint as free text.
        text=message.text or message.caption or "",
        message_id=str(message.message_id),
        at=message.date.astimezone(UTC) if message.date else now(),
        language_hint=message.from_user.language_code,
        private_chat=message.chat.type == "private",
    )
    return inbound, Origin(None, None)


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


class TelegramAdapter:
    def __init__(
        self,
        *,
        token: str,
        api_url: str,
        webhook: WebhookTarget | None,
        api: TelegramAPI,
        conversation: Conversation,
        residents: Residents,
        pacer: ReplyPacer,
        clock: Callable[[], datetime],
        outbound: Outbound,
    ) -> None:
        self._api = api
        self._outbound = outbound
        self._pacer = pacer
        self._conversation = conversation
        self._residents = residents
        self._clock = clock
        self._webhook = webhook
        api_url = api_url.rstrip("/")
        builder = (
            ApplicationBuilder().token(token).base_url(f"{api_url}/bot").base_file_url(f"{api_url}/file/bot")
        )
        if webhook is not None:
            builder = builder.updater(None)
        self.application: Application = builder.build()  # type: ignore[type-arg]
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    async def start(self) -> None:
        try:
            await self.application.initialize()  # calls getMe
        except InvalidToken:
            raise TelegramStartError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (getMe answered 401/404); "
                "copy the token from @BotFather again"
            ) from None
        except NetworkError as exc:
            raise TelegramStartError(
                f"cannot reach the Bot API at TELEGRAM_API_URL ({type(exc).__name__})"
            ) from None
        bot = self.application.bot
        for language, commands in COMMANDS.items():
            menu = [BotCommand(name, description) for name, description in commands]
            await bot.set_my_commands(menu, language_code=None if language == "de" else language)
        updater = self.application.updater
        if self._webhook is not None:
            await bot.set_webhook(
                url=self._webhook.url.rstrip("/") + WEBHOOK_PATH,
                secret_token=self._webhook.secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        elif updater is not None:
            await updater.start_polling(
                poll_interval=0,
                timeout=POLL_TIMEOUT_S,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        await self.application.start()

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        # After a failed start the application counts as never initialised, but the bot's HTTP pool is open.
        await self.application.bot.shutdown()

    async def feed(self, payload: dict[str, object]) -> None:
        """Hand a webhook body to PTB's queue, as its custom-webhook example does."""
        update = Update.de_json(payload, self.application.bot)
        await self.application.update_queue.put(update)

    async def _on_update(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        translated = to_inbound(update, self._clock)
        if translated is None:
            return
        inbound, origin = translated
        replies = await self._conversation.handle(inbound)
        if origin.callback_id is not None:
            # Telegram shows a spinner on the button until the query is answered.
            await self._quietly(self._api.answer_callback(origin.callback_id))
        await self.deliver(inbound.chat_id, replies, origin)

    async def notify(self, replies: list[Reply]) -> None:
        """Notifications addressed to Telegram chats (reply.to), from the outbound router."""
        await self.deliver("", replies, Origin(None, None))

    async def deliver(self, chat_id: str, replies: list[Reply], origin: Origin) -> None:
        """Answer the chat that wrote, and deliver notifications addressed to other Telegram chats;
        those for other messengers go to the outbound router."""
        other = [r for r in replies if r.to is not None and r.to.channel is not Channel.TELEGRAM]
        if other:
            await self._outbound.send(other)
        for reply in replies:
            target, reply_origin = chat_id, origin
            if reply.to is not None:
                if reply.to.channel is not Channel.TELEGRAM:
                    continue
                target, reply_origin = reply.to.chat_id, Origin(None, None)
            try:
                await self._deliver_one(target, reply, reply_origin)
            except SendError as error:
                if error.problem is SendProblem.BLOCKED:
                    await self._residents.mark_inactive(Resident(Channel.TELEGRAM, target), self._clock())
                log.warning("telegram reply not delivered: %s", error.problem.value)
                if target == chat_id:
                    return

    async def _deliver_one(self, chat_id: str, reply: Reply, origin: Origin) -> None:
        parts = split_text(reply.text, MAX_TEXT)
        if reply.replace and origin.message_id is not None and len(parts) == 1:
            await self._pacer.wait_turn(chat_id, group=chat_id.startswith("-"))
            try:
                await self._api.edit_text(chat_id, origin.message_id, reply.text, reply.buttons)
            except SendError as error:
                if error.problem is not SendProblem.UNCHANGED:
                    raise
            return
        for index, part in enumerate(parts):
            buttons = reply.buttons if index == len(parts) - 1 else ()
            await self._with_retry(chat_id, partial(self._api.send_text, chat_id, part, buttons))
        if reply.attachment is not None:
            await self._with_retry(chat_id, partial(self._api.send_attachment, chat_id, reply.attachment))

    async def _with_retry(self, chat_id: str, send: Callable[[], Awaitable[object]]) -> None:
        await self._pacer.send(chat_id, send, group=chat_id.startswith("-"))

    async def _quietly(self, call: Awaitable[object]) -> None:
        try:
            await call
        except SendError as error:
            log.info("telegram callback answer failed: %s", error.problem.value)

    async def _on_error(self, _: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # PTB would log the update with the person's text; name only the kind of failure.
        error = context.error
        if isinstance(error, TelegramError | SendError):
            log.warning("telegram update failed: %s", type(error).__name__)
        else:
            log.error("telegram update failed: %s", type(error).__name__)
