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

from bot.logs import configure_logging
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
