"""A service with WhatsApp configured against the Graph API stand-in, and a signed-webhook client."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.service import Service
from city.connection import RedisClient
from city.values import Channel, Resident
from tests.bot.conftest import Sleeps
from tests.conftest import TOKEN, ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram

ACCESS_TOKEN = "EAAG-test-access-token"
NUMBER_ID = "106540352242922"
APP_SECRET = "app-secret-for-the-tests-0123456789"
VERIFY_TOKEN = "verify-token-for-the-tests"
RESIDENT = "4915112345678"
RESIDENT_BSUID = "DE.1349120865530274191"


def whatsapp_settings(graph: FakeGraph, city_file: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "whatsapp_access_token": ACCESS_TOKEN,
        "whatsapp_phone_number_id": NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_api_url": graph.url,
        "city_config": city_file,
        "telegram_bot_token": None,
        **overrides,
    }


async def subscribe(
    service: Service, channel: Channel, chats: Iterable[str], language: str = "de", topic: str = "verkehr"
) -> None:
    """Residents who agreed and follow `topic`, written straight through the service's residents."""
    assert service.services is not None
    residents = service.services.residents
    for chat in chats:
        resident = Resident(channel, chat)
        await residents.consent(
            resident, language=language, version=service.city.privacy.version, at=service.clock()
        )
        record = await residents.get(resident)
        assert record is not None
        await residents.subscribe(record, topic, service.clock())


@pytest.fixture
async def graph(clock: ManualClock) -> AsyncIterator[FakeGraph]:
    async with FakeGraph(
        token=ACCESS_TOKEN, phone_number_id=NUMBER_ID, clock=lambda: clock().timestamp()
    ) as fake:
        yield fake


@pytest.fixture
async def wa_service(
    graph: FakeGraph,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
) -> AsyncIterator[Service]:
    running = Service(make_settings(**whatsapp_settings(graph, city_file)), clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()


class Webhook:
    """Meta's side of the webhook: signed POSTs and verification GETs to a running service."""

    def __init__(self, session: aiohttp.ClientSession, service: Service, redis: RedisClient) -> None:
        self._session = session
        self.service = service
        self._redis = redis

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}/webhooks/whatsapp"

    async def post_raw(self, raw: bytes, signature: str | None = "sign", **headers: str) -> int:
        if signature == "sign":
            signature = wh.sign(raw, APP_SECRET)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        headers.setdefault("Content-Type", "application/json")
        async with self._session.post(self.url, data=io.BytesIO(raw), headers=headers) as response:
            return response.status

    async def post(self, *, messages: list[Any] = (), **value: Any) -> int:  # type: ignore[assignment]
        if messages:
            value["messages"] = messages
            value.setdefault(
                "contacts",
                [wh.contact(str(m["from"])) for m in messages if isinstance(m, dict) and "from" in m][:1],
            )
        return await self.post_raw(wh.encode(wh.notification(NUMBER_ID, **value)))

    async def get(self, params: dict[str, str]) -> tuple[int, str]:
        async with self._session.get(self.url, params=params) as response:
            return response.status, await response.text()

    async def settled(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every stored notification was processed (the inbox stream is empty)."""
        stream = self.service.storage.keys.whatsapp_inbox() if self.service.storage else ""
        deadline = asyncio.get_running_loop().time() + timeout
        while await self._redis.xlen(stream):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("notifications still unprocessed")
            await asyncio.sleep(0.005)


@pytest.fixture
async def webhook(wa_service: Service, redis: aioredis.Redis) -> AsyncIterator[Webhook]:
    async with aiohttp.ClientSession() as session:
        yield Webhook(session, wa_service, redis)


Write = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def write(webhook: Webhook, graph: FakeGraph, clock: ManualClock) -> Write:
    """A resident writes (text, or a pressed button/list row); returns the texts of the answers."""

    async def send(
        text: str, *, wa_id: str = RESIDENT, button: str | None = None, row: bool = False
    ) -> list[str]:
        before = len(graph.sent(wa_id))
        at = clock().timestamp()
        graph.inbound(wa_id, at)
        if button is not None:
            item = (
                wh.list_reply(wa_id, button, text, at=at)
                if row
                else wh.button_reply(wa_id, button, text, at=at)
            )
        else:
            item = wh.text(wa_id, text, at=at)
        assert await webhook.post(messages=[item]) == 200
        await webhook.settled()
        return [call.text for call in graph.sent(wa_id)[before:]]

    return send


@pytest.fixture
async def both(
    tg: FakeTelegram,
    graph: FakeGraph,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
) -> AsyncIterator[Service]:
    settings = whatsapp_settings(graph, city_file, telegram_bot_token=TOKEN, telegram_api_url=tg.url)
    running = Service(make_settings(**settings), clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()
