"""The service as an operator runs it: start-up checks, webhook mode, persistence, logs."""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.logs import configure_logging
from bot.service import Service
from bot.settings import ConfigurationError
from bot.telegram.receiver import TelegramStartError
from tests.bot.conftest import bot_calls
from tests.conftest import TOKEN, ManualClock
from tests.fakes.telegram_api import FakeTelegram

CHAT = 80801


async def test_wrong_token_fails_with_a_clear_message(make_settings: Any, tg: FakeTelegram) -> None:
    service = Service(make_settings(telegram_api_url=tg.url, telegram_bot_token="999:wrong"))
    with pytest.raises(TelegramStartError, match="Telegram rejected TELEGRAM_BOT_TOKEN"):
        await service.start()
    assert [c.method for c in tg.calls] == ["getMe"]


async def test_unreachable_bot_api_fails_with_a_clear_message(make_settings: Any) -> None:
    service = Service(make_settings(telegram_api_url="http://127.0.0.1:9"))
    with pytest.raises(TelegramStartError, match="cannot reach the Bot API at TELEGRAM_API_URL"):
        await service.start()


async def test_without_any_messenger_off_loopback_the_service_names_what_to_set(make_settings: Any) -> None:
    # Without credentials the service would be the sandbox, which never listens beyond loopback.
    service = Service(make_settings(telegram_bot_token=None, http_host="0.0.0.0"))  # noqa: S104
    with pytest.raises(ConfigurationError, match="TELEGRAM_BOT_TOKEN"):
        await service.start()


async def test_webhook_mode_registers_and_checks_the_secret(
    make_settings: Any, tg: FakeTelegram, clock: ManualClock
) -> None:
    service = Service(
        make_settings(
            telegram_api_url=tg.url,
            telegram_mode="webhook",
            telegram_webhook_url="http://127.0.0.1:1/",
            telegram_webhook_secret="s3cr3t-Token_1-for-the-webhook-test",
        ),
        clock=clock,
    )
    await service.start()
    try:
        assert tg.webhook_secret == "s3cr3t-Token_1-for-the-webhook-test"
        assert tg.webhook_url == "http://127.0.0.1:1/webhooks/telegram"
        assert not tg.sent(None, "getUpdates"), "webhook mode must not poll"
        # Telegram would POST to the public URL; the test posts to where the service listens.
        tg.webhook_url = f"http://127.0.0.1:{service.port}/webhooks/telegram"
        update_id = tg.push_message(CHAT, "/hilfe")
        assert await tg.post_to_webhook(update_id, secret="wrong") == 403
        assert await tg.post_to_webhook(update_id, secret=None) == 403
        assert await tg.post_to_webhook(update_id) == 200
        await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) == 1)
        assert "/abo <thema>" in tg.sent(CHAT)[-1].params["text"].replace("&lt;", "<").replace("&gt;", ">")
        url = tg.webhook_url
        async with aiohttp.ClientSession() as session:
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-Token_1-for-the-webhook-test"}
            async with session.post(url, data=b"{not json", headers=headers) as response:
                assert response.status == 400
            async with session.post(url, json=[1, 2], headers=headers) as response:
                assert response.status == 400
            async with session.post(
                url, data=io.BytesIO(b"x" * (2 * 1024 * 1024)), headers=headers
            ) as response:
                assert response.status == 413
    finally:
        await service.stop()
    assert len(bot_calls(tg, CHAT)) == 1


async def test_health_and_readiness(make_settings: Any, tg: FakeTelegram) -> None:
    service = Service(make_settings(telegram_api_url=tg.url))
    await service.start()
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{service.port}"
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ready"}
    finally:
        await service.stop()
    assert not await service.ready()


@pytest.fixture
def short_data_dir() -> Iterator[Path]:
    """The embedded server's unix socket lives in DATA_DIR, so keep the path short."""
    path = Path(tempfile.mkdtemp(prefix="sf-", dir="/tmp"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


async def test_subscriptions_survive_a_restart_with_the_embedded_redis(
    make_settings: Any, tg: FakeTelegram, short_data_dir: Path
) -> None:
    tg.dates = time.time  # the service runs on real time here: so do the people writing to it
    settings = make_settings(telegram_api_url=tg.url, redis_url=None, data_dir=short_data_dir)
    for step in ("/start", "/zustimmen", "/abo verkehr"):
        service = Service(settings)
        await service.start()
        try:
            before = len(bot_calls(tg, CHAT))
            tg.push_message(CHAT, step)
            await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) > before)  # noqa: B023
        finally:
            await service.stop()
    assert (short_data_dir / "appendonly.aof").exists()
    assert not (short_data_dir / "redis.sock").exists(), "the owner shuts its server down"
    service = Service(settings)
    await service.start()
    try:
        before = len(bot_calls(tg, CHAT))
        tg.push_message(CHAT, "/themen")
        await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) > before)
        assert "✅ Verkehr" in tg.sent(CHAT)[-1].params["text"]
    finally:
        await service.stop()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("DEBUG", [TOKEN], stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


async def test_a_debug_session_logs_no_token_chat_id_or_text(
    make_settings: Any, tg: FakeTelegram, log_stream: io.StringIO
) -> None:
    tg.dates = time.time  # the service runs on real time here: so do the people writing to it
    service = Service(make_settings(telegram_api_url=tg.url, log_level="DEBUG"))
    await service.start()
    try:
        texts = [
            "/start",
            "/zustimmen",
            "/abo verkehr",
            "/faq Sperrmüll",
            "Geheimer Freitext 12345",
            "/loeschen ja",
        ]
        for n, text in enumerate(texts, 1):
            tg.push_message(CHAT, text)
            await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) >= n)  # noqa: B023
        tg.block(CHAT)
        tg.push_message(CHAT, "/hilfe")
        await tg.wait_for(lambda t: any(c.status == 403 for c in t.calls))
        tg.push_message(CHAT + 1, "/hilfe")
        await tg.wait_for(lambda t: len(bot_calls(t, CHAT + 1)) == 1)
    finally:
        await service.stop()
    log = log_stream.getvalue()
    assert "stadtfunk is running" in log, "the session must actually have logged"
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log
    assert str(CHAT) not in log
    for text in ("Geheimer Freitext", "Sperrmüll", "Willkommen", "Verkehr"):
        assert text not in log
