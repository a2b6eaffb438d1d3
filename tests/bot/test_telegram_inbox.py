"""Telegram's webhook stores before it acknowledges: with Redis away an update is refused (Telegram sends it
again), and what it sends twice is answered once."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from tests.bot.conftest import Sleeps, bot_calls
from tests.broadcasts.test_redis_restart import PrivateRedis
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram

CHAT = 60601
SECRET = "telegram-inbox-test-secret-0123456789"


@pytest.fixture
async def own_redis() -> AsyncIterator[PrivateRedis]:
    """A Redis server of this test's own, which it may stop and start again."""
    server = PrivateRedis()
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def webhook_settings(tg: FakeTelegram, city_file: Path) -> dict[str, Any]:
    return {
        "telegram_api_url": tg.url,
        "telegram_mode": "webhook",
        "telegram_webhook_url": "http://127.0.0.1:1/",
        "telegram_webhook_secret": SECRET,
        "city_config": city_file,
    }


async def test_an_update_sent_twice_is_answered_once(
    tg: FakeTelegram, make_settings: Any, clock: ManualClock, sleeps: Sleeps, city_file: Path
) -> None:
    service = Service(make_settings(**webhook_settings(tg, city_file)), clock=clock, sleep=sleeps)
    await service.start()
    try:
        tg.webhook_url = f"http://127.0.0.1:{service.port}/webhooks/telegram"
        first = tg.push_message(CHAT, "/hilfe")
        # Telegram took the first 200 for lost and sends the same update again.
        assert await tg.post_to_webhook(first) == 200
        assert await tg.post_to_webhook(first) == 200
        second = tg.push_message(CHAT, "/datenschutz")
        assert await tg.post_to_webhook(second) == 200
        await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) == 3)  # help, and privacy in two parts
    finally:
        await service.stop()
    assert len(bot_calls(tg, CHAT)) == 3


async def test_with_redis_away_an_update_is_refused_and_taken_when_telegram_sends_it_again(
    tg: FakeTelegram,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    city_file: Path,
    own_redis: PrivateRedis,
) -> None:
    settings = make_settings(**webhook_settings(tg, city_file), redis_url=own_redis.url)
    service = Service(settings, clock=clock, sleep=sleeps)
    await service.start()
    try:
        tg.webhook_url = f"http://127.0.0.1:{service.port}/webhooks/telegram"
        update = tg.push_message(CHAT, "/hilfe")
        await own_redis.stop()
        assert await tg.post_to_webhook(update) == 503  # not stored, so not acknowledged
        assert [u["update_id"] for u in tg.pending_updates] == [update]
        await own_redis.start()
        assert await tg.post_to_webhook(update) == 200
        await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) == 1, timeout=15)
    finally:
        await service.stop()
    assert tg.texts(CHAT)[0].startswith("So funktioniert der Stadtfunk:")
