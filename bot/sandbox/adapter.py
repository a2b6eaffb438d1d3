"""The sandbox adapter: a local web test chat on the same conversation core and broadcast engine.

It runs only when no messenger credentials are set, and only on loopback, because on its page anyone
can act as any staff member; bot/sandbox/guard.py keeps other web pages from driving it. Residents are
chats "r1", "r2", ...; a staff member's chat is "staff:<id>"
(handlers/staff_common.py recognises it). Notices the core addresses to a staff member's Telegram or
WhatsApp chat are shown in that member's sandbox chat instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.progress_reporter import progress_text, summary_text
from bot.sandbox import labels
from bot.sandbox.channel import Outbox
from bot.sandbox.guard import Guard, page_headers
from bot.settings import Settings
from broadcasts.model import TERMINAL, State
from broadcasts.outcome import SendError
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

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")
CHAT_PATTERN = re.compile(r"^(r[1-9][0-9]{0,5}|staff:[a-z0-9][a-z0-9_-]{0,31})$")
MAX_TEXT = 4096
LONG_POLL_S = 20.0
RECENT_BROADCASTS = 10
SHOWN = frozenset({State.QUEUED, State.SENDING, State.PAUSED, State.DONE, State.CANCELLED})
# A rehearsal needs a handful of residents; the cap keeps a runaway script from filling memory and Redis.
MAX_RESIDENTS = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        self._residents_seen: set[str] = set()
        self._conversation = conversation
        self._residents = residents
        self._pacer = pacer
        self._store = store
        self._statistics = statistics
        self._city = city
        self._clock = clock
        self._texts = texts
        self._limits = limits
        self._since = clock()
        self._reports: dict[str, tuple[int, str]] = {}  # broadcast -> progress message, its text
        page = PAGE.read_text(encoding="utf-8")
        self._page_text, self._page_headers = page, page_headers(page)

    async def handle(self, chat: str, text: str, *, button: bool = False, message: int | None = None) -> None:
        """What Telegram's update handler does: one inbound through the core, its replies shown."""
        self.outbox.closed.discard(chat)
        inbound = Inbound(
            channel=Channel.SANDBOX,
            chat_id=chat,
            sender_id=chat,
            text=text,
            message_id=str(message or 0),
            at=self._clock(),
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
                and self.outbox.edit(target, origin, reply.text, reply.buttons)
            )
            if replaced:
                continue
            if target in self.outbox.closed:
                await self._residents.mark_inactive(Resident(Channel.SANDBOX, target), self._clock())
                continue
            self.outbox.post(target, reply.text, buttons=reply.buttons, attachment=reply.attachment)

    async def report(self) -> None:
        """The author's live progress message, as on Telegram; here also for a broadcast that ended
        between two looks, since a sandbox audience is tiny."""
        recent = await self._store.recent(RECENT_BROADCASTS)
        for gone in self._reports.keys() - {broadcast.id for broadcast in recent}:
            del self._reports[gone]
        for broadcast in recent:
            author = self._city().staff_member(broadcast.author)
            if author is None or broadcast.state not in SHOWN:
                continue
            progress = await self._store.progress(broadcast.id)
            if progress.started_at is None or progress.started_at < self._since:
                continue
            now = self._clock()
            finished = progress.state in TERMINAL
            text = (
                summary_text(self._texts, progress, now)
                if finished
                else progress_text(self._texts, progress, now, self._limits)
            )
            chat = SANDBOX_STAFF + author.id
            shown = self._reports.get(broadcast.id)
            if shown is None:
                self._reports[broadcast.id] = (self.outbox.post(chat, text), text)
            elif shown[1] != text:
                self.outbox.edit(chat, shown[0], text, ())
                self._reports[broadcast.id] = (shown[0], text)

    def _sandbox_chat(self, to: Resident) -> str | None:
        if to.channel is Channel.SANDBOX:
            return to.chat_id
        city = self._city()
        member = (
            city.staff_by_telegram(int(to.chat_id))
            if to.channel is Channel.TELEGRAM and to.chat_id.isdecimal()
            else city.staff_by_whatsapp(to.chat_id)
            if to.channel is Channel.WHATSAPP
            else None
        )
        return SANDBOX_STAFF + member.id if member is not None else None

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self._guarded(self._page, api=False))
        app.router.add_get("/sandbox/setup", self._guarded(self._setup))
        app.router.add_post("/sandbox/send", self._guarded(self._send, changes_state=True))
        app.router.add_post("/sandbox/close", self._guarded(self._close, changes_state=True))
        app.router.add_get("/sandbox/events", self._guarded(self._events))
        app.router.add_get("/sandbox/broadcasts", self._guarded(self._broadcasts))

    def _guarded(self, handler: Handler, *, api: bool = True, changes_state: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.guard.check(request, api=api, changes_state=changes_state)
            response = await handler(request)
            response.headers.update({"X-Frame-Options": "DENY", "Cache-Control": "no-store"})
            return response

        return guarded

    async def _page(self, _: web.Request) -> web.Response:
        # The page holds no data: it reads its token from its own address and asks the API with it.
        return web.Response(text=self._page_text, content_type="text/html", headers=self._page_headers)

    async def _setup(self, _: web.Request) -> web.Response:
        city = self._city()
        return web.json_response(
            {
                "city": city.name,
                "staff": [
                    labels.staff_member(self._texts, city, m, SANDBOX_STAFF + m.id) for m in city.staff
                ],
                "topics": [{"id": t.id, "name": t.name.de} for t in city.topics],
                "kinds": labels.kinds(self._texts),
            }
        )

    async def _send(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        chat, text = self._admit(body.get("chat")), body.get("text")
        message = body.get("message")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
            raise _bad(f'"text" must be 1 to {MAX_TEXT} characters')
        if message is not None and (not isinstance(message, int) or isinstance(message, bool)):
            raise _bad('"message" must be a message number')
        try:
            await self.handle(chat, text, button=body.get("button") is True, message=message)
        except SendError as error:
            log.warning("sandbox reply not delivered: %s", error.problem.value)
        return web.json_response({"ok": True})

    async def _close(self, request: web.Request) -> web.Response:
        """The person leaves: later deliveries are refused as a blocked bot would be."""
        chat = self._admit((await _json_object(request)).get("chat"))
        self.outbox.closed.add(chat)
        return web.json_response({"ok": True})

    def _admit(self, chat: object) -> str:
        """A chat the page may use: a staff member of the city file, or one of at most MAX_RESIDENTS."""
        if not isinstance(chat, str) or not CHAT_PATTERN.match(chat):
            raise _bad('"chat" must be "r<number>" or "staff:<staff id>"')
        if chat.startswith(SANDBOX_STAFF):
            if self._city().staff_member(chat.removeprefix(SANDBOX_STAFF)) is None:
                raise _bad(f"{chat} is not a staff member in the city file")
        elif chat not in self._residents_seen:
            if len(self._residents_seen) >= MAX_RESIDENTS:
                raise web.HTTPTooManyRequests(
                    text=f"the sandbox holds at most {MAX_RESIDENTS} residents; restart it for a fresh one"
                )
            self._residents_seen.add(chat)
        return chat

    async def _events(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            raise _bad('"after" must be a number') from None
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, LONG_POLL_S)):
                    await self.outbox.wait(after)
        events = self.outbox.since(after)
        return web.json_response({"events": [event.as_json() for event in events]})

    async def _broadcasts(self, _: web.Request) -> web.Response:
        city = self._city()
        staff = {member.id: member.name for member in city.staff}
        listed: list[dict[str, Any]] = []
        for broadcast in await self._store.recent(RECENT_BROADCASTS):
            progress = await self._store.progress(broadcast.id)
            author = staff.get(broadcast.author, broadcast.author)
            shown = labels.broadcast(self._texts, city, broadcast, progress, author=author, now=self._clock())
            listed.append(shown)
        figures = await self._statistics()
        return web.json_response(
            {"broadcasts": listed, "statistics": labels.statistics(self._texts, city, figures)}
        )


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("the body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def sandbox_settings(settings: Settings) -> Settings:
    """The sandbox keeps its data under a prefix of its own, so that a rehearsal broadcast (a scheduled
    Probealarm, say) can never reach real residents once messenger credentials are set."""
    return settings.model_copy(update={"redis_key_prefix": f"{settings.redis_key_prefix}:sandbox"})
