"""Polling the warnings API: conditional GETs, one process under the lease, each version once across
restarts and processes, an outage told once each way, and the age of the last good poll on /metrics."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.service import Service
from bot.warnings import warning_loop
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import edit_city
from tests.bot.warnings.conftest import ADMIN, TG_RESIDENTS, broadcasts, poll, tg_texts, until_done
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.warnings_api import FakeWarningsApi, Issued, Language

SOURCE = "warnings:051240000000"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_an_unchanged_dashboard_costs_a_304_and_no_detail(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram
) -> None:
    api.issue(Issued())
    await poll(warned, clock)
    await tg.wait_for(lambda t: all(tg_texts(t, chat) for chat in TG_RESIDENTS))
    before = len(api.source.requests)
    await poll(warned, clock)
    await poll(warned, clock)
    again = api.source.requests[before:]
    assert [r.path for r in again] == [api.dashboard_path] * 2, "no detail asked for again"
    assert all(r.if_none_match for r in again), "asked with the last answer's ETag: answered 304"
    assert len(await broadcasts(warned)) == 1


async def test_the_api_down_then_back_is_told_to_the_admins_once_each_way_and_shows_on_metrics(
    warned: Service,
    api: FakeWarningsApi,
    clock: ManualClock,
    tg: FakeTelegram,
    session: aiohttp.ClientSession,
) -> None:
    await poll(warned, clock)
    api.down()
    for _ in range(4):
        await poll(warned, clock)
    assert not any(SOURCE in text for text in tg_texts(tg, ADMIN)), "four failures are no outage yet"
    for _ in range(4):
        await poll(warned, clock)
    await tg.wait_for(lambda t: any(SOURCE in text for text in tg_texts(t, ADMIN)))
    metrics = f"http://127.0.0.1:{warned.metrics_port}/metrics"
    async with session.get(metrics) as response:
        body = await response.text()
    age = re.search(rf'stadtfunk_source_last_good_poll_age_seconds{{source="{SOURCE}"}} (\S+)', body)
    assert age is not None
    assert float(age[1]) == pytest.approx(8 * 60), "the last good poll was eight polls ago"
    async with session.get(f"http://127.0.0.1:{warned.port}/readyz") as response:
        assert response.status == 200, "ready: residents' messages still flow"

    api.up()
    await poll(warned, clock)
    await poll(warned, clock)
    await tg.wait_for(lambda t: any("antwortet wieder" in text for text in tg_texts(t, ADMIN)))
    told = [text for text in tg_texts(tg, ADMIN) if SOURCE in text]
    assert len(told) == 2
    assert "nicht erreichbar (HTTP 503)" in told[0]
    assert "antwortet wieder" in told[1]


async def test_two_processes_poll_under_one_lease_and_nothing_is_sent_twice(
    warned: Service,
    api: FakeWarningsApi,
    clock: ManualClock,
    tg: FakeTelegram,
    session: aiohttp.ClientSession,
) -> None:
    assert warned.storage is not None
    other = warning_loop(
        storage=warned.storage, session=session, engine=warned.engine, services=warned.services,
        api_url=api.url, worker="other-process", clock=clock, send=warned.outbound.send,
    )  # fmt: skip
    assert other is not None
    await poll(warned, clock)
    api.issue(Issued())
    clock.advance(seconds=60)
    before = api.dashboard_requests()
    await other.tick()
    assert api.dashboard_requests() == before, "the service holds the lease: the other process waits"
    assert warned.warnings is not None
    await warned.warnings.tick()
    await warned.warnings.tick()
    assert api.dashboard_requests() == before + 1

    await warned.warnings.release()  # as at a shutdown: the other process polls at once
    api.update(Issued().id, severity="Extreme")
    api.issue(Issued(id="mow.second", infos=(Language(headline="Zweite Warnung"),)))
    clock.advance(seconds=60)
    await other.tick()
    assert api.dashboard_requests() == before + 2
    await warned.warnings.tick()
    await other.tick()
    assert len(await broadcasts(warned)) == 3, "the first, its update and the second, each once"
    await other.release()


async def test_a_restart_sends_nothing_twice(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram
) -> None:
    api.issue(Issued())
    await poll(warned, clock)
    await tg.wait_for(lambda t: all(tg_texts(t, chat) for chat in TG_RESIDENTS))
    await warned.stop()
    await warned.start()
    api.issue(Issued(id="mow.minor", severity="Minor"))  # the dashboard changed: read again in full
    await poll(warned, clock)
    await poll(warned, clock)
    assert len(await broadcasts(warned)) == 1
    assert [len(tg_texts(tg, chat)) for chat in TG_RESIDENTS] == [1, 1]


async def test_stadtfunk_warnings_lists_each_warning_and_whether_when_and_to_how_many_it_was_relayed(
    warned: Service,
    api: FakeWarningsApi,
    clock: ManualClock,
    tg: FakeTelegram,
    city_file: Path,
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
) -> None:
    api.issue(Issued())
    api.issue(Issued(id="mow.minor", severity="Minor", infos=(Language(headline="Kleinigkeit"),)))
    await poll(warned, clock)
    [sent] = await broadcasts(warned)
    await until_done(warned, sent.id)
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix, "CITY_CONFIG": str(city_file)}
    shown = await asyncio.to_thread(stadtfunk, "warnings", cwd=tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("warnings for ARS 051240000000 -> topic feuerwehr (auto, from Moderate")
    assert f"{Issued().id}  mowas  Severe  version 1  relayed" in shown.stdout
    [relayed] = [line for line in lines if line.strip().startswith("relayed 2026-11-23T09:")]
    assert relayed.endswith(", sent to 3"), "two on Telegram, one on WhatsApp"
    assert "mow.minor  mowas  Minor  version 1  quiet" in shown.stdout
    assert "not relayed (below min_severity" in shown.stdout


async def test_while_a_severe_warning_is_active_the_api_is_asked_every_30_seconds(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, city_file: Path
) -> None:
    edit_city(city_file, "  poll_seconds: 60\n", "  poll_seconds: 120\n")
    assert await warned.reload_city()
    api.issue(Issued(id="mow.moderate", severity="Moderate"))
    await poll(warned, clock, seconds=120)
    asked = api.dashboard_requests()
    await poll(warned, clock, seconds=30)
    assert api.dashboard_requests() == asked, "Moderate only: every 120 s"
    api.issue(Issued(severity="Extreme", infos=(Language(headline="Großbrand im Industriegebiet"),)))
    await poll(warned, clock, seconds=90)
    await poll(warned, clock, seconds=30)
    assert api.dashboard_requests() == asked + 2, "an Extreme one is active: every 30 s"
    api.withdraw(Issued().id)
    await poll(warned, clock, seconds=30)
    await poll(warned, clock, seconds=30)
    assert api.dashboard_requests() == asked + 3, "it ended: every 120 s again"
