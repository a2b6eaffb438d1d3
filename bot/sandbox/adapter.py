"""The sandbox adapter: a local web test chat on the same conversation core and broadcast engine.

It runs only when no messenger credentials are set, and only on loopback, because on its page anyone
can act as any staff member; bot/sandbox/guard.py keeps other web pages from driving it. Residents are
chats "r1", "r2", ...; a staff member's chat is "staff:<id>"
(handlers/staff_common.py recognises it). Notices the core addresses to a staff member's Telegram or
WhatsApp chat are shown in that member's sandbox chat instead. The page and its API are in
bot/sandbox/routes.py; the chats are kept in bot/sandbox/store.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime

from aiohttp import web

from bot.progress_reporter import progress_text, summary_text
from bot.sandbox.channel import Outbox
from bot.sandbox.guard import Guard
from bot.sandbox.routes import RECENT_BROADCASTS, SandboxPage
from bot.settings import Settings
from broadcasts.model import TERMINAL, State
from broadcasts.reply_pacer import ReplyPacer
from broadcasts.store import BroadcastStore
from city.config import City
from city.residents import Residents
from city.statistics import Snapshot
from city.values import Channel, Resident
from handlers.conversation import Conversation
from handlers.staff_common import SANDBOX_STAFF
from handlers.texts import Texts
from handlers.values import Inbound, Reply

RESIDENT_CHAT = re.compile(r"^r[1-9][0-9]{0,5}$")
SHOWN = frozenset({State.QUEUED, State.SENDING, State.PAUSED, State.DONE, State.CANCELLED})


class SandboxAdapter:
    def __init__(
        self,
        *,
        outbox: Outbox,
        conversation: Conversation,
        residents: Residents,
        pacer: ReplyPacer,
        store: BroadcastStore,
        statistics: Callable[[], Awaitable[Snapshot]],
        city: Callable[[], City],
        texts: Texts,
        limits: Mapping[Channel, float],
        clock: Callable[[], datetime],
        port: Callable[[], int | None],
    ) -> None:
        self.outbox = outbox
        self.guard = Guard(port)
        self.residents_seen: set[str] = set()
        self._conversation = conversation
        self._residents = residents
        self._pacer = pacer
        self.store = store
        self.statistics = statistics
        self.city = city
        self.clock = clock
        self.texts = texts
        self._limits = limits
        self._since = clock()
        self._reports: dict[str, tuple[int, str]] = {}  # broadcast -> progress message, its text

    async def handle(self, chat: str, text: str, *, button: bool = False, message: int | None = None) -> None:
        """What Telegram's update handler does: one inbound through the core, its replies shown."""
        await self.outbox.set_closed(chat, False)
        if not button:  # a tap shows no message of its own, as in a messenger
            await self.outbox.post(chat, text, kind="in")
        inbound = Inbound(
            channel=Channel.SANDBOX,
            chat_id=chat,
            sender_id=chat,
            text=text,
            message_id=str(message or 0),
            at=self.clock(),
            is_button=button,
            language_hint="de",
        )
        replies = await self._conversation.handle(inbound)
        await self.deliver(chat, replies, message)

    async def notify(self, replies: list[Reply]) -> None:
        """Every notice, from the outbound router: each in its addressee's sandbox chat."""
        await self.deliver("", replies)

    async def deliver(self, chat: str, replies: list[Reply], origin: int | None = None) -> None:
        shown: set[tuple[str, Reply]] = set()
        for reply in replies:
            target = chat if reply.to is None else self._sandbox_chat(reply.to)
            # A staff member on Telegram and WhatsApp has one sandbox chat: show each notice once.
            if target is None or (target, replace(reply, to=None)) in shown:
                continue
            shown.add((target, replace(reply, to=None)))
            await self._pacer.wait_turn(target, group=False)
            replaced = (
                reply.replace
                and reply.to is None
                and origin is not None
                and await self.outbox.edit(target, origin, reply.text, reply.buttons)
            )
            if replaced:
                continue
            if target in self.outbox.closed:
                await self._residents.mark_inactive(Resident(Channel.SANDBOX, target), self.clock())
                continue
            await self.outbox.post(target, reply.text, buttons=reply.buttons, attachment=reply.attachment)

    async def report(self) -> None:
        """The author's live progress message, as on Telegram; here also for a broadcast that ended
        between two looks, since a sandbox audience is tiny."""
        recent = await self.store.recent(RECENT_BROADCASTS)
        for gone in self._reports.keys() - {broadcast.id for broadcast in recent}:
            del self._reports[gone]
        for broadcast in recent:
            author = self.city().staff_member(broadcast.author)
            if author is None or broadcast.state not in SHOWN:
                continue
            progress = await self.store.progress(broadcast.id)
            if progress.started_at is None or progress.started_at < self._since:
                continue
            now = self.clock()
            finished = progress.state in TERMINAL
            text = (
                summary_text(self.texts, progress, now)
                if finished
                else progress_text(self.texts, progress, now, self._limits)
            )
            chat = SANDBOX_STAFF + author.id
            shown = self._reports.get(broadcast.id)
            if shown is None:
                self._reports[broadcast.id] = (await self.outbox.post(chat, text), text)
            elif shown[1] != text:
                await self.outbox.edit(chat, shown[0], text, ())
                self._reports[broadcast.id] = (shown[0], text)

    def _sandbox_chat(self, to: Resident) -> str | None:
        if to.channel is Channel.SANDBOX:
            return to.chat_id
        city = self.city()
        member = (
            city.staff_by_telegram(int(to.chat_id))
            if to.channel is Channel.TELEGRAM and to.chat_id.isdecimal()
            else city.staff_by_whatsapp(to.chat_id)
            if to.channel is Channel.WHATSAPP
            else None
        )
        return SANDBOX_STAFF + member.id if member is not None else None

    async def start(self) -> None:
        """The chats kept from before a restart, on the page again; their residents count as seen."""
        await self.outbox.load()
        self.residents_seen |= {event.chat for event in self.outbox.events if RESIDENT_CHAT.match(event.chat)}

    async def forget(self, resident: Resident) -> None:
        """An erased sandbox resident's chat goes with the rest of their data (city/residents.py)."""
        if resident.channel is Channel.SANDBOX:
            await self.outbox.forget(resident.chat_id)

    def install(self, app: web.Application) -> None:
        SandboxPage(self).install(app)


def sandbox_settings(settings: Settings) -> Settings:
    """The sandbox keeps its data under a prefix of its own, so that a rehearsal broadcast (a scheduled
    Probealarm, say) can never reach real residents once messenger credentials are set."""
    return settings.model_copy(update={"redis_key_prefix": f"{settings.redis_key_prefix}:sandbox"})
