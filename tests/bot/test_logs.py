"""Logs: one line per event, JSON with LOG_FORMAT=json, and never a secret, a chat id or a text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.logs import REDACTED, configure_logging
from bot.settings import Settings
from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import sandbox_service
from tests.conftest import ManualClock

SECRET = "987654:very-secret-bot-token"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("DEBUG", [SECRET], stream, log_format="json")
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_event_is_one_json_line_without_secrets_or_tracebacks(json_log: io.StringIO) -> None:
    log = logging.getLogger("stadtfunk.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", SECRET)
    log.warning("two\nlines")
    try:
        raise RuntimeError(f"failed at /bot{SECRET}/sendMessage")
    except RuntimeError:
        log.exception("send failed")
    events = lines(json_log)
    assert [e["event"] for e in events] == [
        "calling https://api.telegram.org/bot[redacted]/getMe",
        "two\nlines",
        "send failed (RuntimeError)",
    ]
    assert {e["level"] for e in events} == {"INFO", "WARNING", "ERROR"}
    assert all(e["logger"] == "stadtfunk.test" and e["time"].endswith("+00:00") for e in events)
    assert SECRET not in json_log.getvalue()
    assert "Traceback" not in json_log.getvalue()


def test_the_text_format_is_one_line_per_event_too() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", [], stream)
    try:
        log = logging.getLogger("stadtfunk.test")
        log.warning("two\nlines")
        try:
            raise ValueError("a value that could be personal")
        except ValueError:
            log.exception("parsing failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue().splitlines()
    assert len(text) == 2
    assert text[0].endswith("WARNING stadtfunk.test: two\\nlines")
    assert text[1].endswith("ERROR stadtfunk.test: parsing failed (ValueError)")
    assert "personal" not in stream.getvalue()


async def test_a_sandbox_session_logs_json_without_texts(
    json_log: io.StringIO,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        (consent,) = await client.say("r77", "/start")
        await client.say("r77", "/zustimmen de", button=True, message=consent["message"])
        await client.say("r77", "/abo feuerwehr")
        await client.say("r77", "Geheimer Freitext über Sperrmüll")
        await client.say("staff:feuerwehr-lagedienst", "/eilmeldung feuerwehr Brand in der Altstadt")
    events = lines(json_log)
    assert any(e["event"] == "stadtfunk is running for Beispielstadt" for e in events)
    log = json_log.getvalue()
    for text in ("Geheimer Freitext", "Sperrmüll", "Brand in der Altstadt", "r77", "Willkommen"):
        assert text not in log


def test_every_secret_setting_is_redacted() -> None:
    secrets = {
        "telegram_bot_token": "4242:secret-bot-token-value",
        "telegram_webhook_secret": "webhook_secret_0123456789_abcdefghij",
        "whatsapp_access_token": "EAAG-secret-access-token",
        "whatsapp_phone_number_id": "123456",
        "whatsapp_app_secret": "app-secret-0123456789abcdef",
        "whatsapp_verify_token": "verify-token-0123456789",
        "id_hash_secret": "hash-secret-0123456789",
        "audit_hmac_secret": "audit-hmac-secret-0123456789",
        "redis_url": "redis://:pass%2Fword-in-the-url@redis:6379/0",
    }
    settings = Settings(_env_file=None, **secrets)  # type: ignore[arg-type]
    # Every SecretStr field of the settings is one of these: a new secret setting must join the list.
    secret_fields = {
        name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
    }
    assert secret_fields == set(secrets) - {"whatsapp_phone_number_id"}
    stream = io.StringIO()
    handler = configure_logging("DEBUG", settings.secret_values(), stream)
    try:
        log = logging.getLogger("stadtfunk.test")
        for value in [*secrets.values(), "pass/word-in-the-url", "pass%2Fword-in-the-url"]:
            log.info("connecting with %s", value)
    finally:
        logging.getLogger().removeHandler(handler)
    written = stream.getvalue()
    for name, value in secrets.items():
        if name != "whatsapp_phone_number_id":
            assert value not in written, name
    assert "pass/word-in-the-url" not in written
    assert written.count(REDACTED) >= 9
