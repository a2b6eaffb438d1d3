"""Which messengers run: WhatsApp alone, Telegram alone, both; never a half-configured WhatsApp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.service import Service
from bot.settings import ConfigurationError, Settings
from tests.bot.whatsapp.conftest import VERIFY_TOKEN


def test_defaults_name_meta_and_the_current_graph_version() -> None:
    settings = Settings(_env_file=None)
    assert settings.whatsapp_api_url == "https://graph.facebook.com"
    assert settings.whatsapp_api_version == "v26.0"
    assert settings.whatsapp_rate_limit == 80
    assert settings.messengers == []


def test_a_half_configured_whatsapp_names_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN"):
        Settings(_env_file=None, whatsapp_access_token="t", whatsapp_phone_number_id="1")


async def test_without_any_messenger_on_a_public_host_the_service_names_both(make_settings: Any) -> None:
    # Without credentials the service would be the sandbox, which never listens beyond loopback.
    with pytest.raises(ConfigurationError, match=r"TELEGRAM_BOT_TOKEN \(or WHATSAPP_ACCESS_TOKEN"):
        await Service(make_settings(telegram_bot_token=None, http_host="0.0.0.0")).start()  # noqa: S104


async def test_whatsapp_alone_serves_its_webhook_and_is_ready(wa_service: Service) -> None:
    assert wa_service.settings.messengers == ["whatsapp"]
    assert wa_service.telegram is None
    assert await wa_service.ready()
    base = f"http://127.0.0.1:{wa_service.port}"
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 200
        async with session.get(f"{base}/webhooks/whatsapp", params=params) as response:
            assert await response.text() == "42"
        async with session.post(f"{base}/webhooks/telegram", data=b"{}") as response:
            assert response.status in (404, 405)


async def test_telegram_alone_has_no_whatsapp_webhook(service: Service) -> None:
    assert service.settings.messengers == ["telegram"]
    url = f"http://127.0.0.1:{service.port}/webhooks/whatsapp"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 404


async def test_both_messengers_share_one_engine_with_a_limiter_each(both: Service) -> None:
    assert both.settings.messengers == ["telegram", "whatsapp"]
    assert both.engine is not None
    assert sorted(sender.channel for sender in both.engine.senders) == ["tg", "wa"]


def test_every_whatsapp_variable_is_documented_in_env_example_and_readme() -> None:
    root = Path(__file__).parents[3]
    example = (root / ".env.example").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    names = [name.upper() for name in Settings.model_fields if name.startswith("whatsapp_")]
    assert len(names) == 7
    for name in names:
        assert f"\n{name}=" in example
        assert f"`{name}`" in readme
    assert "/webhooks/whatsapp" in readme
    assert "v26.0" in readme
