"""Data written by the release before content versions (schema 1) is upgraded once on start: the audit
log is chained in place, broadcasts get versions, and the open ones are indexed, however old."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from bot.storage.client import open_storage
from city.keys import SCHEMA_VERSION
from tests.bot.conftest import Sleeps, approve, bot_calls
from tests.bot.test_staff_flow import APPROVER, EDITOR, RESIDENT
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram


def legacy_broadcast(text: str, state: str, created: datetime, **extra: str) -> dict[str, str]:
    """A broadcast's hash exactly as the release before wrote it: no version, no approval fields."""
    return {
        "topics": "verkehr",
        "text_de": text,
        "author": "presse-redaktion",
        "created_at": created.isoformat(),
        "priority": "1",
        "state": state,
        "needs_review": "0",
        "escalated": "0",
        "links": "",
        **extra,
    }


async def write_schema_1(redis: aioredis.Redis, prefix: str, clock: ManualClock) -> list[str]:
    """Three broadcasts of the old release: an old draft, approved news waiting for 18:00, one pending;
    and its audit log, with times in a field. Returns the audit entries' ids."""
    await redis.set(f"{prefix}:meta:schema", 1)
    created = datetime(2026, 11, 20, 8, tzinfo=UTC)
    due = datetime(2026, 11, 23, 17, tzinfo=UTC)  # 18:00 in Beispielstadt
    broadcasts = {
        "1": legacy_broadcast("Ein alter Entwurf", "draft", clock() - timedelta(hours=20)),
        "2": legacy_broadcast("Sperrung ab 18 Uhr", "scheduled", created, scheduled_for=due.isoformat()),
        "3": legacy_broadcast("Wartet auf Freigabe", "pending_approval", clock()),
    }
    for broadcast_id, fields in broadcasts.items():
        await redis.hset(f"{prefix}:{{bc:{broadcast_id}}}", mapping=fields)  # type: ignore[arg-type]
        await redis.zadd(
            f"{prefix}:bc-index", {broadcast_id: datetime.fromisoformat(fields["created_at"]).timestamp()}
        )
    await redis.set(f"{prefix}:bc-seq", 3)
    await redis.zadd(f"{prefix}:schedule", {"2": due.timestamp()})
    ids = []
    for who, action, broadcast_id in (
        ("presse-redaktion", "draft", "1"),
        ("presse-redaktion", "submit", "2"),
        ("presse-freigabe", "approve", "2"),
    ):
        fields = {"at": created.isoformat(), "who": who, "action": action, "broadcast": broadcast_id}
        ids.append(str(await redis.xadd(f"{prefix}:audit", fields)))  # type: ignore[arg-type]
    return ids


async def test_an_upgraded_database_keeps_its_history_and_its_open_broadcasts(
    tg: FakeTelegram,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    key_prefix: str,
    city_file: Path,
) -> None:
    legacy_ids = await write_schema_1(redis, key_prefix, clock)
    settings = make_settings(telegram_api_url=tg.url, city_config=city_file)
    # Two processes open the data at once (a tool beside the service): one upgrades, the other waits.
    opened = await asyncio.gather(*(open_storage(settings, service=False) for _ in range(2)))
    for storage in opened:
        await storage.close()
    first = Service(settings, clock=clock, sleep=sleeps)
    await first.start()
    try:
        assert await redis.get(f"{key_prefix}:meta:schema") == str(SCHEMA_VERSION)
        assert first.storage is not None
        report = await audit_log(first.storage, settings).verify()
        assert (report.entries, report.broken, report.first) == (3, None, legacy_ids[0])

        async def say(chat: int, text: str, replies: int = 1) -> list[str]:
            before = len(bot_calls(tg, chat))
            tg.push_message(chat, text)
            await tg.wait_for(lambda t: len(bot_calls(t, chat)) >= before + replies)
            return [str(c.params.get("text")) for c in bot_calls(tg, chat)[before:]]

        for text in ("/start", "/zustimmen", "/abo verkehr"):
            await say(RESIDENT, text)
        [listing] = await say(EDITOR, "/offen")
        assert "#1 · Entwurf · Verkehr · Jonas Becker (Presseamt): Ein alter Entwurf" in listing
        assert "#2 · geplant" in listing
        assert "#3 · wartet auf Freigabe" in listing

        [shown] = await say(APPROVER, "/freigeben 3")
        assert shown.startswith("Bitte prüfen Sie Fassung "), "a pending request from before names no version"
        await approve(say, tg, APPROVER, 3)
        await tg.wait_for(lambda t: any("Wartet auf Freigabe" in x for x in t.texts(RESIDENT)))

        clock.advance(hours=8)  # 18:00: the news approved under the old release goes out as approved
        await first.upkeep_once()
        await tg.wait_for(lambda t: any("Sperrung ab 18 Uhr" in x for x in t.texts(RESIDENT)))
        await first.upkeep_once()  # and the old draft expires, though no scan of the newest would see it
        assert any("Ihr Entwurf #1 ist abgelaufen" in x for x in tg.texts(EDITOR))
    finally:
        await first.stop()
