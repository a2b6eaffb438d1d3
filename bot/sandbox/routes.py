"""The sandbox page and the API it talks to; every route behind the guard (bot/sandbox/guard.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from bot.sandbox.guard import page_headers
from broadcasts.outcome import SendError
from city.config import City
from city.values import Channel
from handlers.charts import MIME_TYPE, render_chart
from handlers.staff_common import SANDBOX_STAFF
from handlers.staff_help import help_lines, role_summary
from handlers.words import describe_state

if TYPE_CHECKING:
    from bot.sandbox.adapter import SandboxAdapter

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")
CHAT_PATTERN = re.compile(r"^(r[1-9][0-9]{0,5}|staff:[a-z0-9][a-z0-9_-]{0,31})$")
MAX_TEXT = 4096
LONG_POLL_S = 20.0
RECENT_BROADCASTS = 10
# A rehearsal needs a handful of residents; the cap keeps a runaway script from filling memory and Redis.
MAX_RESIDENTS = 200
# The page is German: its labels, the catalog's state names, and numbers as "2.500".
LANGUAGE = "de"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SandboxPage:
    def __init__(self, adapter: SandboxAdapter) -> None:
        self._sandbox = adapter
        page = PAGE.read_text(encoding="utf-8")
        self._page_text, self._page_headers = page, page_headers(page)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self._guarded(self._page, api=False))
        app.router.add_get("/sandbox/setup", self._guarded(self._setup))
        app.router.add_post("/sandbox/send", self._guarded(self._send, changes_state=True))
        app.router.add_post("/sandbox/close", self._guarded(self._close, changes_state=True))
        app.router.add_get("/sandbox/events", self._guarded(self._events))
        app.router.add_get("/sandbox/broadcasts", self._guarded(self._broadcasts))
        app.router.add_get("/sandbox/chart", self._guarded(self._chart))

    def _guarded(self, handler: Handler, *, api: bool = True, changes_state: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self._sandbox.guard.check(request, api=api, changes_state=changes_state)
            response = await handler(request)
            response.headers.update({"X-Frame-Options": "DENY", "Cache-Control": "no-store"})
            return response

        return guarded

    async def _page(self, _: web.Request) -> web.Response:
        # The page holds no data: it reads its token from its own address and asks the API with it.
        return web.Response(text=self._page_text, content_type="text/html", headers=self._page_headers)

    async def _setup(self, _: web.Request) -> web.Response:
        city = self._sandbox.city()
        t = partial(self._sandbox.texts, LANGUAGE)
        outbox = self._sandbox.outbox
        return web.json_response(
            {
                "city": city.name,
                "staff": [
                    {
                        "id": member.id,
                        "name": member.name,
                        "roles": sorted(member.roles),
                        "duties": role_summary(member, city, t, LANGUAGE),
                        # The cheat-sheet: staff /hilfe's own lines, as the sandbox chat would answer.
                        "commands": help_lines(member, city, t, LANGUAGE, Channel.SANDBOX),
                        "chat": SANDBOX_STAFF + member.id,
                        # For the tour's example: a topic this person may draft for, if any.
                        "writes": _topic_ids(city, member.topics_for("editor")),
                    }
                    for member in city.staff
                ],
                "topics": [{"id": t.id, "name": t.name.de} for t in city.topics],
                "residents": sorted(self._sandbox.residents_seen, key=lambda chat: int(chat[1:])),
                "closed": sorted(outbox.closed),
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
            await self._sandbox.handle(chat, text, button=body.get("button") is True, message=message)
        except SendError as error:
            log.warning("sandbox reply not delivered: %s", error.problem.value)
        return web.json_response({"ok": True})

    async def _close(self, request: web.Request) -> web.Response:
        """The person leaves: later deliveries are refused as a blocked bot would be."""
        chat = self._admit((await _json_object(request)).get("chat"))
        await self._sandbox.outbox.set_closed(chat, True)
        return web.json_response({"ok": True})

    def _admit(self, chat: object) -> str:
        """A chat the page may use: a staff member of the city file, or one of at most MAX_RESIDENTS."""
        if not isinstance(chat, str) or not CHAT_PATTERN.match(chat):
            raise _bad('"chat" must be "r<number>" or "staff:<staff id>"')
        seen = self._sandbox.residents_seen
        if chat.startswith(SANDBOX_STAFF):
            if self._sandbox.city().staff_member(chat.removeprefix(SANDBOX_STAFF)) is None:
                raise _bad(f"{chat} is not a staff member in the city file")
        elif chat not in seen:
            if len(seen) >= MAX_RESIDENTS:
                raise web.HTTPTooManyRequests(
                    text=f"the sandbox holds at most {MAX_RESIDENTS} residents; restart it for a fresh one"
                )
            seen.add(chat)
        return chat

    async def _events(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            raise _bad('"after" must be a number') from None
        outbox = self._sandbox.outbox
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, LONG_POLL_S)):
                    await outbox.wait(after)
        return web.json_response({"events": [event.as_json() for event in outbox.since(after)]})

    async def _broadcasts(self, _: web.Request) -> web.Response:
        sandbox = self._sandbox
        city = sandbox.city()
        staff = {member.id: member.name for member in city.staff}
        names = {topic.id: topic.name.de for topic in city.topics}
        listed: list[dict[str, Any]] = []
        for broadcast in await sandbox.store.recent(RECENT_BROADCASTS):
            progress = await sandbox.store.progress(broadcast.id)
            percent = math.floor(100 * progress.settled / progress.total) if progress.total else 0
            listed.append(
                {
                    "id": broadcast.id,
                    "state": progress.state.value,
                    # The catalog's word for the state, as /status and /offen say it ("zurückgehalten
                    # (Ruhezeit bis …)").
                    "state_label": describe_state(sandbox.texts, LANGUAGE, broadcast, city.tz),
                    "kind": broadcast.priority.name.lower(),
                    "author": staff.get(broadcast.author, broadcast.author),
                    "topics": [names.get(topic, topic) for topic in broadcast.topics]
                    if not broadcast.all_topics
                    else [sandbox.texts(LANGUAGE, "staff_help_all_topics")],
                    "text": broadcast.text_de,
                    "total": progress.total,
                    "sent": progress.sent,
                    "failed": sum(c.failed for c in progress.channels.values()),
                    "blocked": sum(c.blocked for c in progress.channels.values()),
                    "percent": percent,
                    "rate": round(progress.rate(sandbox.clock()), 1),
                }
            )
        figures = await sandbox.statistics()
        today = figures.days[0] if figures.days else None
        totals: dict[str, int] = {}
        for (topic, _channel), count in figures.subscribers.items():
            totals[topic] = totals.get(topic, 0) + count
        return web.json_response(
            {
                "broadcasts": listed,
                "statistics": {
                    "subscribers": [{"topic": names.get(t, t), "count": n} for t, n in totals.items()],
                    "today": {"broadcasts": today.broadcasts, **today.outcomes} if today else {},
                },
            }
        )

    async def _chart(self, _: web.Request) -> web.Response:
        """The same chart /statistik sends, drawn in a thread like there."""
        sandbox = self._sandbox
        figures = await sandbox.statistics()
        png = await asyncio.to_thread(render_chart, figures.history, sandbox.city(), sandbox.texts, LANGUAGE)
        return web.Response(body=png, content_type=MIME_TYPE)


def _topic_ids(city: City, scope: Literal["all"] | frozenset[str]) -> list[str]:
    return [topic.id for topic in city.topics if scope == "all" or topic.id in scope]


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
