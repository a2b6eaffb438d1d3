"""A running service against the Bot API stand-in and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram


class Sleeps:
    """Records what the service wanted to wait for, and returns at once."""

    def __init__(self) -> None:
        self.requested: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def service(
    tg: FakeTelegram, make_settings: Any, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> AsyncIterator[Service]:
    running = Service(make_settings(telegram_api_url=tg.url), clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()


Say = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def say(tg: FakeTelegram, service: Service) -> Say:
    """Type something as a resident and get back the texts the bot answered with."""

    async def send(
        chat_id: int, text: str, *, language_code: str | None = "de", button: bool = False
    ) -> list[str]:
        before = len([c for c in tg.calls if c.chat_id == str(chat_id) and c.method != "getUpdates"])
        if button:
            tg.push_callback(chat_id, text, language_code=language_code)
        else:
            tg.push_message(chat_id, text, language_code=language_code)
        update_id = tg.updates[-1]["update_id"]
        await tg.wait_for(lambda t: not any(u["update_id"] == update_id for u in t.pending_updates))
        await tg.wait_for(lambda t: _answered(t, chat_id, before, button))
        calls = [c for c in tg.calls if c.chat_id == str(chat_id) and c.method != "getUpdates"][before:]
        return [str(c.params["text"]) for c in calls if "text" in c.params]

    return send


def _answered(tg: FakeTelegram, chat_id: int, before: int, button: bool) -> bool:
    calls = [c for c in tg.calls if c.chat_id == str(chat_id) and c.method != "getUpdates"][before:]
    return any(c.method in ("sendMessage", "editMessageText") for c in calls)
