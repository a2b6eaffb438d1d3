"""What the sandbox page builds on: chats kept across a restart, the cheat-sheet from /hilfe, the chart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.sandbox.routes import LANGUAGE
from city.values import Channel
from handlers.charts import HEIGHT_PX, WIDTH_PX
from handlers.staff_help import help_lines
from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import sandbox_service
from tests.bot.sandbox.test_sandbox import subscribe
from tests.conftest import ManualClock

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_the_chats_are_there_again_after_a_restart(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r1", "verkehr")
        await client.say("r3", "/start")
        await client.say("staff:presse-redaktion", "/meldung verkehr Sperrung B7\nEN: B7 closed")
        assert await client.send("r3", "/hilfe") == 200
        async with client.session.post(f"{client.base}/sandbox/close", json={"chat": "r3"}) as response:
            assert response.status == 200
        before = await client.get("/sandbox/events?after=0")
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        after = await client.get("/sandbox/events?after=0")
        assert after == before
        typed = [
            e["text"] for e in after["events"] if e["kind"] == "in" and e["chat"] == "staff:presse-redaktion"
        ]
        assert typed == ["/meldung verkehr Sperrung B7\nEN: B7 closed"]
        setup = await client.get("/sandbox/setup")
        assert setup["residents"] == ["r1", "r3"]
        assert setup["closed"] == ["r3"]
        # Numbering goes on after what was kept, so the page's "seen so far" stays true.
        [answer] = await client.say("r1", "/hilfe")
        assert answer["seq"] > max(e["seq"] for e in before["events"])


async def test_an_erased_resident_s_chat_goes_with_their_data(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, client):
        await subscribe(client, "r1", "verkehr")
        await subscribe(client, "r2", "kultur")
        [confirm] = await client.say("r1", "/loeschen")
        erase = next(b for row in confirm["buttons"] for b in row if b["command"].startswith("/loeschen"))
        await client.say("r1", erase["command"], button=True, message=confirm["message"])
        assert service.sandbox is not None
        assert service.storage is not None
        kept = [event.chat for event in service.sandbox.outbox.events]
        stored = await service.storage.redis.lrange(service.storage.keys.sandbox_outbox(), 0, -1)
    r1_messages = [event for event in kept if event == "r1"]
    # Only the answer to the erasure itself is left, as on a phone after the bot deleted the data.
    assert len(r1_messages) <= 1
    assert "r2" in kept
    assert sum('"chat": "r1"' in line for line in stored) == len(r1_messages)
    assert any('"chat": "r2"' in line for line in stored)


async def test_the_cheat_sheet_is_the_staff_help_of_each_person(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, client):
        setup = await client.get("/sandbox/setup")
        by_id = {member["id"]: member for member in setup["staff"]}
        answers = [e["text"] for e in await client.say("staff:presse-redaktion", "/hilfe")]
        assert "\n".join(by_id["presse-redaktion"]["commands"]) in answers
        texts = service.services.texts if service.services else None
        assert texts is not None
        for member in service.city.staff:
            lines = help_lines(
                member, service.city, lambda key, **v: texts(LANGUAGE, key, **v), LANGUAGE, Channel.SANDBOX
            )
            assert by_id[member.id]["commands"] == lines
        approver = by_id["presse-freigabe"]
        assert "/freigeben" in "\n".join(approver["commands"])
        assert "/meldung" not in "\n".join(approver["commands"])
        assert any(duty.startswith("Freigeben – ") for duty in approver["duties"])


async def test_the_page_gets_the_statistik_chart_as_png(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        await subscribe(client, "r1", "verkehr")
        async with client.session.get(f"{client.base}/sandbox/chart") as response:
            assert response.status == 200
            assert response.content_type == "image/png"
            png = await response.read()
        assert png.startswith(PNG_SIGNATURE)
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (WIDTH_PX, HEIGHT_PX)
        async with client.session.get(
            f"{client.base}/sandbox/chart", headers={"X-Sandbox-Token": "x"}
        ) as refused:
            assert refused.status == 403


async def test_the_service_records_the_day_s_subscriber_level_without_anyone_asking(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.storage is not None
        levels = service.storage.keys.daily_levels(clock().astimezone(service.city.tz).date())
        async with asyncio.timeout(10):
            while not await service.storage.redis.exists(levels):  # noqa: ASYNC110  (a task at start)
                await asyncio.sleep(0.01)
        stored = await service.storage.redis.hgetall(levels)
    assert stored == {f"{topic.id}:{Channel.SANDBOX.value}": "0" for topic in service.city.topics}
