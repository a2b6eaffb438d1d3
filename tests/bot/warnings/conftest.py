"""The service on both messengers' stand-ins, with WARNINGS_API_URL at the warnings API stand-in."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from broadcasts.model import Broadcast, State
from city.values import Channel
from tests.bot.conftest import Sleeps
from tests.bot.whatsapp.conftest import graph, subscribe, whatsapp_settings
from tests.conftest import TOKEN, ManualClock
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.warnings_api import ARS, FakeWarningsApi

__all__ = ["graph"]

TOPIC = "feuerwehr"
TG_RESIDENTS = ("501", "502")
WA_RESIDENTS = ("4915111110001",)
ADMIN, APPROVER, FIRE = 100001, 100003, 100004


def section(**values: object) -> str:
    settings = {"ars": f'"{ARS}"', "topic": TOPIC, "min_severity": "Moderate", "send": "auto",
                "poll_seconds": "60", **values}  # fmt: skip
    return "\nwarnings:\n" + "".join(f"  {key}: {value}\n" for key, value in settings.items())


@pytest.fixture
async def api() -> AsyncIterator[FakeWarningsApi]:
    async with FakeWarningsApi() as fake:
        yield fake


@pytest.fixture
async def warned(
    tg: FakeTelegram,
    graph: FakeGraph,
    api: FakeWarningsApi,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
) -> AsyncIterator[Service]:
    """A service on both messengers whose city relays warnings to `feuerwehr`, with its subscribers."""
    with city_file.open("a", encoding="utf-8") as handle:
        handle.write(section())
    settings = whatsapp_settings(graph, city_file, telegram_bot_token=TOKEN, telegram_api_url=tg.url)
    running = Service(make_settings(**settings, warnings_api_url=api.url), clock=clock, sleep=sleeps)
    await running.start()
    await subscribe(running, Channel.TELEGRAM, TG_RESIDENTS, topic=TOPIC)
    await subscribe(running, Channel.WHATSAPP, WA_RESIDENTS, topic=TOPIC)
    yield running
    await running.stop()


async def poll(service: Service, clock: ManualClock, seconds: float = 60) -> None:
    """The poll interval passes and the loop takes its turn (as its beat would)."""
    clock.advance(seconds=seconds)
    assert service.warnings is not None
    await service.warnings.tick()


def tg_texts(tg: FakeTelegram, chat: str | int) -> list[str]:
    return [html.unescape(str(call.params.get("text"))) for call in tg.sent(chat)]


def wa_texts(graph: FakeGraph, number: str) -> list[str]:
    return [call.text for call in graph.sent(number)]


async def broadcasts(service: Service) -> list[Broadcast]:
    assert service.engine is not None
    return list(reversed(await service.engine.store.recent(50)))


async def until_done(service: Service, broadcast_id: str) -> None:
    """Settling follows the last send by a Redis round trip; wait for it by watching the state."""
    assert service.engine is not None
    engine = service.engine
    async with asyncio.timeout(10):
        while (await engine.progress(broadcast_id)).state is not State.DONE:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
