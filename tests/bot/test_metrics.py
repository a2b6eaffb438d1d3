"""/metrics in Prometheus format: counters move by exactly what happened, gauges read Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from bot.service import Service
from bot.settings import Settings
from broadcasts.model import State
from tests.bot.conftest import Say, Sleeps, approve
from tests.bot.sandbox.client import sandbox_service
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram

EDITOR, APPROVER = 100002, 100003
RESIDENTS = (5001, 5002, 5003)
ELSEWHERE = 5004

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int | None) -> tuple[str, Samples]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        body = await response.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    return body, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def done(service: Service, broadcast_id: str) -> None:
    """The senders settle in the background: look again until the broadcast is done."""
    assert service.engine is not None
    async with asyncio.timeout(10):
        while (await service.engine.progress(broadcast_id)).state is not State.DONE:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_deliveries_move_by_exactly_the_number_delivered(
    say: Say, tg: FakeTelegram, service: Service
) -> None:
    for chat in RESIDENTS:
        await say(chat, "/start")
        await say(chat, "/zustimmen")
        await say(chat, "/abo verkehr")
    await say(ELSEWHERE, "/start")
    await say(ELSEWHERE, "/zustimmen")
    await say(ELSEWHERE, "/abo kultur")
    _, before = await scrape(service.metrics_port)
    await say(EDITOR, "/meldung verkehr Die B7 ist gesperrt.")
    await say(EDITOR, "/einreichen 1")
    await approve(say, tg, APPROVER, 1)
    await done(service, "1")
    body, after = await scrape(service.metrics_port)

    sent = "stadtfunk_deliveries_total"
    assert (
        value(after, sent, channel="tg", outcome="sent") - value(before, sent, channel="tg", outcome="sent")
        == 3
    )
    assert value(after, "stadtfunk_subscribers", topic="verkehr", channel="tg") == 3
    assert value(after, "stadtfunk_subscribers", topic="kultur", channel="tg") == 1
    assert value(after, "stadtfunk_queue_depth", channel="tg", priority="news") == 0
    assert ("stadtfunk_rate_limit_wait_seconds_total", ()) in after
    for chat in (*RESIDENTS, ELSEWHERE, EDITOR, APPROVER):
        assert str(chat) not in body
    assert "B7" not in body


async def test_subscribers_count_daily_digest_readers_in_each_of_their_topics(
    say: Say, service: Service
) -> None:
    for chat, topics, mode in ((5101, ("verkehr", "baustellen"), "taeglich"), (5102, ("verkehr",), "sofort")):
        await say(chat, "/start")
        await say(chat, "/zustimmen")
        for topic in topics:
            await say(chat, f"/abo {topic}")
        await say(chat, f"/zustellung {mode}")
    _, samples = await scrape(service.metrics_port)
    assert value(samples, "stadtfunk_subscribers", topic="verkehr", channel="tg") == 2
    assert value(samples, "stadtfunk_subscribers", topic="baustellen", channel="tg") == 1
    assert value(samples, "stadtfunk_subscribers", topic="kultur", channel="tg") == 0


async def test_blocked_deliveries_are_counted_as_such(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, client):
        for chat in ("r1", "r2"):
            (consent,) = await client.say(chat, "/start")
            await client.say(chat, "/zustimmen de", button=True, message=consent["message"])
            await client.say(chat, "/abo sternwarte")
        async with client.session.post(f"{client.base}/sandbox/close", json={"chat": "r2"}) as response:
            assert response.status == 200
        _, before = await scrape(service.metrics_port)
        await client.say("staff:sternwarte", "/meldung sternwarte Heute Saturn!")
        await client.say("staff:sternwarte", "/einreichen 1")
        await done(service, "1")
        _, after = await scrape(service.metrics_port)
        for outcome in ("sent", "blocked"):
            moved = value(after, "stadtfunk_deliveries_total", channel="sb", outcome=outcome) - value(
                before, "stadtfunk_deliveries_total", channel="sb", outcome=outcome
            )
            assert moved == 1, outcome
        # Every message typed on the page is one observation of the inbound latency histogram.
        typed = value(after, "stadtfunk_webhook_seconds_count", channel="sb")
        assert typed == 6 + 2 == value(before, "stadtfunk_webhook_seconds_count", channel="sb") + 2


def test_metrics_have_a_loopback_port_of_their_own_by_default() -> None:
    settings = Settings(_env_file=None)
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9464)


async def test_metrics_are_never_on_the_public_port(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    settings = make_settings(telegram_bot_token=None, city_config=city_file, metrics_host="127.0.0.2")
    service = Service(settings, clock=clock, sleep=sleeps)
    await service.start()
    try:
        assert service.metrics_port not in (None, service.port)
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.2:{service.metrics_port}/metrics"
            async with session.get(url) as response:
                assert response.status == 200
                samples = {
                    (s.name, tuple(sorted(s.labels.items()))): s.value
                    for family in text_string_to_metric_families(await response.text())
                    for s in family.samples
                }
            assert value(samples, "stadtfunk_subscribers", topic="verkehr", channel="sb") == 0
            # METRICS_HOST decides where they listen: not on 127.0.0.1 here, and never on HTTP_PORT.
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{service.metrics_port}/metrics")
            async with session.get(f"http://127.0.0.1:{service.port}/metrics") as response:
                assert response.status == 404
    finally:
        await service.stop()
