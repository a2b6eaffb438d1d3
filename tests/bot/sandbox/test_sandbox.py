"""Sandbox mode: without messenger credentials the real service runs with a local web test chat."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.sandbox.guard import TOKEN_HEADER
from bot.service import Service
from bot.settings import ConfigurationError
from city.values import Channel
from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import SandboxClient, sandbox_service
from tests.conftest import ManualClock

ALERT = "Hochwasser an der Ruhr: Uferwege gesperrt."
AUTHOR = "staff:feuerwehr-lagedienst"
APPROVER = "staff:presse-freigabe"


def button(event: dict[str, Any], command_start: str) -> dict[str, Any]:
    return next(b for row in event["buttons"] for b in row if b["command"].startswith(command_start))


async def subscribe(client: SandboxClient, chat: str, topic: str) -> None:
    (consent,) = await client.say(chat, "/start")
    await client.say(chat, button(consent, "/zustimmen")["command"], button=True, message=consent["message"])
    (subscribed,) = await client.say(chat, f"/abo {topic}")
    assert subscribed["text"].startswith("✅"), subscribed["text"]


async def alert_approved(client: SandboxClient, text: str) -> None:
    """The fire brigade's duty officer sends an alert; the press office approves it by button."""
    await client.say(AUTHOR, f"/eilmeldung feuerwehr {text}")
    (request,) = [e for e in client.events if e["chat"] == APPROVER]
    approve = button(request, "/freigeben")["command"]
    (approved,) = await client.say(APPROVER, approve, button=True, message=request["message"])
    assert "freigegeben" in approved["text"]


async def finished(client: SandboxClient, broadcast_id: str) -> dict[str, Any]:
    """The broadcast once its author's progress message shows the summary, and the page's view of it."""
    await client.wait_for(
        lambda e: (
            e["chat"] == AUTHOR and e["text"].startswith(f"#{broadcast_id} ") and "zugestellt" in e["text"]
        )
    )
    listed: list[dict[str, Any]] = (await client.get("/sandbox/broadcasts"))["broadcasts"]
    return next(b for b in listed if b["id"] == broadcast_id)


async def test_a_staff_alert_reaches_a_sandbox_resident_through_the_engine(
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    key_prefix: str,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, client):
        assert service.settings.sandbox_mode
        assert await service.ready()
        await subscribe(client, "r1", "feuerwehr")
        await subscribe(client, "r2", "kultur")  # not in the alert's audience
        await alert_approved(client, ALERT)
        alert = await client.wait_for(lambda e: e["chat"] == "r1" and e["kind"] == "alert")
        assert ALERT in alert["text"]
        shown = await finished(client, "1")
        assert shown["state"] == "done"
        assert (shown["percent"], shown["sent"], shown["total"], shown["kind"]) == (100, 1, 1, "alert")
        # What the page shows, in the chat's words.
        assert shown["state_label"] == "gesendet"
        assert not [t for t in client.texts("r2") if ALERT in t]
        figures = (await client.get("/sandbox/broadcasts"))["statistics"]
        subscribers = {s["topic"]: s["count"] for s in figures["subscribers"]}
        assert subscribers["Feuerwehr & Krisen"] == 1
        assert figures["today"]["sent"] == 1
        # The same counters as Telegram's, kept apart under the sandbox's own prefix.
        assert service.storage is not None
        assert service.storage.keys.prefix == f"{key_prefix}:sandbox"
        progress = await service.storage.redis.hgetall(service.storage.keys.broadcast_progress("1"))
        assert progress[f"sent:{Channel.SANDBOX.value}"] == "1"


async def test_the_page_names_news_held_for_the_quiet_hours_as_the_chat_does(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r1", "verkehr")
        clock.advance(hours=13)  # 23:00, in the quiet hours
        editor = "staff:presse-redaktion"
        await client.say(editor, "/meldung verkehr Nachtbaustelle auf der A46")
        await client.say(editor, "/einreichen 1")
        (request,) = [e for e in client.events if e["chat"] == APPROVER]
        assert "🌙 Jetzt ist Ruhezeit (22:00–07:00 Uhr)" in request["text"]
        approve = button(request, "/freigeben")["command"]
        (held,) = await client.say(APPROVER, approve, button=True, message=request["message"])
        assert held["text"].startswith("#1 ist freigegeben und zurückgehalten")
        listed = (await client.get("/sandbox/broadcasts"))["broadcasts"]
        assert [(b["state"], b["state_label"]) for b in listed] == [
            ("held", "zurückgehalten (Ruhezeit bis 24.11.2026 07:00)")
        ]
        anyway = button(held, "/freigeben 1 ")
        assert anyway["label"] == "Trotzdem jetzt senden"
        (sent,) = await client.say(APPROVER, anyway["command"], button=True, message=held["message"])
        assert sent["text"] == "#1 wird jetzt gesendet."
        await client.wait_for(lambda e: e["chat"] == "r1" and "Nachtbaustelle" in e["text"])


async def test_the_statistics_panel_counts_daily_digest_readers_in_each_topic(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r1", "verkehr")
        await client.say("r1", "/abo baustellen")
        await client.say("r1", "/zustellung taeglich")
        await subscribe(client, "r2", "verkehr")
        figures = (await client.get("/sandbox/broadcasts"))["statistics"]
        subscribers = {s["topic"]: s["count"] for s in figures["subscribers"]}
        assert subscribers["Verkehr"] == 2
        assert subscribers["Baustellen"] == 1
        assert subscribers["Kultur"] == 0


async def test_a_pressed_menu_button_replaces_its_message(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r3", "verkehr")
        await client.send("r3", "/themen")
        menu = await client.wait_for(lambda e: e["chat"] == "r3" and len(e["buttons"]) > 3)
        toggle = button(menu, "/abo")
        await client.send("r3", toggle["command"], button=True, message=menu["message"])
        edited = await client.wait_for(lambda e: e["edit"] and e["message"] == menu["message"])
        assert edited["text"]
        assert edited["buttons"] != menu["buttons"]


async def test_a_closed_chat_counts_as_blocked(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r4", "feuerwehr")
        async with client.session.post(f"{client.base}/sandbox/close", json={"chat": "r4"}) as response:
            assert response.status == 200
        await alert_approved(client, ALERT)
        shown = await finished(client, "1")
        assert (shown["blocked"], shown["sent"]) == (1, 0)


async def test_bad_requests_get_a_precise_400(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        for body in (
            {"chat": "42", "text": "x"},
            {"chat": "r1", "text": ""},
            {"chat": "r1", "text": "x" * 5000},
        ):
            assert await client.send(**body) == 400
        async with client.session.post(
            f"{client.base}/sandbox/send", data=b"{oops", headers={"Content-Type": "application/json"}
        ) as response:
            assert (response.status, await response.text()) == (400, "the body must be JSON")
        async with client.session.get(f"{client.base}/sandbox/events?after=x") as response:
            assert response.status == 400
        async with client.session.get(f"{client.base}/") as response:
            assert response.status == 200
            assert "stadtfunk Sandbox" in await response.text()


async def test_the_sandbox_never_runs_with_messenger_credentials(
    make_settings: Any, tg: Any, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    service = Service(make_settings(telegram_api_url=tg.url), clock=clock, sleep=sleeps)
    await service.start()
    try:
        assert service.sandbox is None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{service.port}/") as response:
                assert response.status == 404
            async with session.post(
                f"http://127.0.0.1:{service.port}/sandbox/send", json={"chat": "r1", "text": "/start"}
            ) as response:
                assert response.status == 404
    finally:
        await service.stop()
    whatsapp = make_settings(
        telegram_bot_token=None,
        whatsapp_access_token="EAAG-test",
        whatsapp_phone_number_id="123456",
        whatsapp_app_secret="app-secret-0123456789",
        whatsapp_verify_token="verify-token-0123456789",
    )
    assert not whatsapp.sandbox_mode


async def test_the_sandbox_listens_on_loopback_only(make_settings: Any) -> None:
    service = Service(make_settings(telegram_bot_token=None, http_host="0.0.0.0"))  # noqa: S104
    with pytest.raises(ConfigurationError, match="loopback only"):
        await service.start()


async def test_a_taken_port_is_named(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (first, _):
        second = Service(
            make_settings(telegram_bot_token=None, http_port=first.port), clock=clock, sleep=sleeps
        )
        with pytest.raises(ConfigurationError, match=f"HTTP_PORT={first.port}"):
            await second.start()


async def test_run_without_credentials_prints_the_address_and_stops_on_sigterm(
    redis_url: str, key_prefix: str, tmp_path: Path, redis: aioredis.Redis
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "REDIS_", "CITY_", "WHATSAPP_", "STADTFUNK_", "METRICS_"))
    }
    env |= {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "HTTP_PORT": "0",
        "METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env, stdout=PIPE, stderr=PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            banner = (await process.stdout.readline()).decode()
        match = re.search(
            r"open (http://127\.0\.0\.1:\d+/)\?t=([A-Za-z0-9_-]{32}) to chat as residents and staff", banner
        )
        assert match, banner
        async with aiohttp.ClientSession() as session:
            async with session.get(match[1] + "readyz") as response:
                assert response.status == 200
            async with session.get(f"{match[1]}?t={match[2]}") as response:
                assert "stadtfunk Sandbox" in await response.text()
            async with session.get(match[1] + "sandbox/setup", headers={TOKEN_HEADER: match[2]}) as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
        assert process.returncode == 0
        events = [json.loads(line)["event"] for line in stderr.decode().splitlines()]
        assert events[-1] == "shutting down"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
