"""Driving a sandbox service over its HTTP API, as the test page does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.sandbox.guard import TOKEN_HEADER
from bot.service import Service
from tests.conftest import ManualClock

# How long one long poll of /sandbox/events may wait for news.
POLL_S = 5


class SandboxClient:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.events: list[dict[str, Any]] = []

    async def send(self, chat: str, text: str, **extra: Any) -> int:
        async with self.session.post(
            f"{self.base}/sandbox/send", json={"chat": chat, "text": text, **extra}
        ) as response:
            await response.read()
            return response.status

    async def say(self, chat: str, text: str, **extra: Any) -> list[dict[str, Any]]:
        """Type or tap something; the answers (not the typed text) are shown before the request returns,
        as in a messenger."""
        after = await self.catch_up()
        assert await self.send(chat, text, **extra) == 200
        await self.catch_up()
        return [e for e in self.events if e["seq"] > after and e["chat"] == chat and e["kind"] != "in"]

    async def catch_up(self) -> int:
        after = self.events[-1]["seq"] if self.events else 0
        self.events += (await self.get(f"/sandbox/events?after={after}"))["events"]
        return self.events[-1]["seq"] if self.events else 0

    async def get(self, path: str) -> Any:
        async with self.session.get(self.base + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def wait_for(self, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (seen or coming) that matches; long polls, no sleeping."""
        while True:
            for event in self.events:
                if found(event):
                    return event
            after = self.events[-1]["seq"] if self.events else 0
            data = await self.get(f"/sandbox/events?after={after}&wait={POLL_S}")
            self.events += data["events"]

    def texts(self, chat: str) -> list[str]:
        """What the bot sent to the chat (what the person typed is shown there too, as kind "in")."""
        return [event["text"] for event in self.events if event["chat"] == chat and event["kind"] != "in"]


@asynccontextmanager
async def sandbox_service(
    make_settings: Any, city_file: Path, clock: ManualClock, sleep: Any
) -> AsyncIterator[tuple[Service, SandboxClient]]:
    service = Service(make_settings(telegram_bot_token=None, city_config=city_file), clock=clock, sleep=sleep)
    await service.start()
    assert service.sandbox is not None
    try:
        # Like the page: every request carries the token printed with the address.
        async with aiohttp.ClientSession(headers={TOKEN_HEADER: service.sandbox.guard.token}) as session:
            yield service, SandboxClient(session, f"http://127.0.0.1:{service.port}")
    finally:
        await service.stop()
