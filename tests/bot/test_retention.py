"""Retention that ends: the city file's `retention:` periods, swept by the service's privacy upkeep on its
injected clock. Erasure after a period is the same as /loeschen, counted per day and audited without ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from broadcasts.audit import Action
from broadcasts.model import Broadcast, State
from city.values import Channel, Resident, ResidentRecord
from tests.bot.conftest import Say, edit_city
from tests.bot.test_staff_flow import until_state
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.traces import traces

# Ids as long as Telegram's, so that no counter or time in Redis reads like one of them.
CHAT, OTHER = 7391846205, 7391846277


async def subscribed(say: Say, chat: int, topic: str = "verkehr") -> None:
    await say(chat, "/start")
    await say(chat, "/zustimmen")
    await say(chat, f"/abo {topic}")


async def sweep_at(service: Service, clock: ManualClock, moment: datetime) -> None:
    clock.current = moment
    assert service.privacy is not None
    await service.privacy.once()


async def record_of(service: Service, chat: int) -> ResidentRecord | None:
    assert service.services is not None
    return await service.services.residents.get(Resident(Channel.TELEGRAM, str(chat)))


async def stored(service: Service, chat: int) -> bool:
    return await record_of(service, chat) is not None


async def refused_at(service: Service, chat: int) -> datetime:
    """When the service recorded that the chat refuses its messages."""
    record = await record_of(service, chat)
    assert record is not None
    assert record.inactive_since is not None
    return record.inactive_since


async def audit(service: Service) -> list[dict[str, Any]]:
    assert service.storage is not None
    log = audit_log(service.storage, service.settings)
    return [entry.as_json() async for entry in log.since(datetime(2000, 1, 1, tzinfo=UTC))]


async def test_a_resident_without_topics_is_erased_on_the_day_the_period_ends(
    say: Say, service: Service, clock: ManualClock, redis: aioredis.Redis, key_prefix: str
) -> None:
    await subscribed(say, CHAT)
    await subscribed(say, OTHER)
    await say(CHAT, "/abbestellen verkehr")
    left = clock()
    await sweep_at(service, clock, left + timedelta(days=30) - timedelta(minutes=1))
    assert await stored(service, CHAT)
    await sweep_at(service, clock, left + timedelta(days=30))
    assert not await stored(service, CHAT)
    assert await stored(service, OTHER), "a subscriber stays"
    assert await traces(redis, str(CHAT)) == []
    day = clock().astimezone(service.city.tz).date().isoformat()
    assert await redis.hget(f"{key_prefix}:stats:{day}", "erased:unsubscribed:tg") == "1"
    erasures = [entry for entry in await audit(service) if entry["action"] == Action.ERASURE.value]
    assert [(e["at"], e["who"], e["broadcast"], e["detail"]) for e in erasures] == [
        # The audit log keeps milliseconds; answers paced by the limiter move the test clock by fractions.
        (clock().replace(microsecond=clock().microsecond // 1000 * 1000).isoformat(), "system", None,
         "retention: 1 unsubscribed")
    ]  # fmt: skip
    assert str(CHAT) not in json.dumps(await audit(service))
    await sweep_at(service, clock, left + timedelta(days=31))
    assert len([e for e in await audit(service) if e["action"] == "erasure"]) == 1, "counted once"


async def test_subscribing_again_stops_the_period_and_unsubscribing_starts_it_anew(
    say: Say, service: Service, clock: ManualClock
) -> None:
    await subscribed(say, CHAT)
    await say(CHAT, "/stop")
    start = clock()
    clock.current = start + timedelta(days=20)
    await say(CHAT, "/abo kultur")
    await sweep_at(service, clock, start + timedelta(days=45))
    assert await stored(service, CHAT)
    await say(CHAT, "/abbestellen kultur")
    again = clock()
    await sweep_at(service, clock, again + timedelta(days=29))
    assert await stored(service, CHAT)
    await sweep_at(service, clock, again + timedelta(days=30))
    assert not await stored(service, CHAT)


async def test_agreeing_without_ever_subscribing_counts_as_without_topics(
    say: Say, service: Service, clock: ManualClock, city_file: Path
) -> None:
    edit_city(city_file, "unsubscribed_days: 30", "unsubscribed_days: 7")
    assert await service.reload_city()
    await say(CHAT, "/start")
    await say(CHAT, "/zustimmen")
    agreed = clock()
    await sweep_at(service, clock, agreed + timedelta(days=6, hours=23))
    assert await stored(service, CHAT)
    await sweep_at(service, clock, agreed + timedelta(days=7))
    assert not await stored(service, CHAT)


async def test_a_resident_who_blocked_the_bot_is_erased_after_blocked_days(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, redis: aioredis.Redis, key_prefix: str
) -> None:
    await subscribed(say, CHAT)
    await subscribed(say, OTHER)
    tg.block(CHAT)
    tg.block(OTHER)
    assert service.engine is not None
    draft = Broadcast(id="", topics=("verkehr",), text_de="B7 gesperrt", author="presse-redaktion",
                      created_at=clock())  # fmt: skip
    created = await service.engine.store.create(draft)
    await service.engine.store.approve(created.id, created.version, "presse-freigabe")
    sending = clock()
    await service.engine.enqueue(created.id)
    await until_state(service, created.id, State.DONE.value)
    # The period runs from the refusal, not from the end of the broadcast: its sends are paced, so the
    # clock may move on after CHAT's refusal (by a second when OTHER was answered just before and its
    # pacing key, which Redis expires in real time, is still there: on a fast machine, not a slow one).
    blocked_at = await refused_at(service, CHAT)
    assert sending <= blocked_at <= clock(), "recorded on the service's clock, while the broadcast ran"
    tg.unblock(OTHER)
    await say(OTHER, "/hilfe")  # writing again: delivered to once more, the period is over
    await sweep_at(service, clock, blocked_at + timedelta(days=90) - timedelta(seconds=1))
    assert await stored(service, CHAT)
    await sweep_at(service, clock, blocked_at + timedelta(days=90))
    assert not await stored(service, CHAT)
    assert await stored(service, OTHER)
    assert await traces(redis, str(CHAT)) == []
    day = clock().astimezone(service.city.tz).date().isoformat()
    assert await redis.hget(f"{key_prefix}:stats:{day}", "erased:blocked:tg") == "1"


async def test_delivery_records_end_and_a_forgotten_pause_is_cancelled(
    say: Say, service: Service, clock: ManualClock, redis: aioredis.Redis
) -> None:
    await subscribed(say, CHAT)
    assert service.engine is not None
    assert service.storage is not None
    engine, keys = service.engine, service.storage.keys
    draft = Broadcast(id="", topics=("verkehr",), text_de="B7 gesperrt", author="presse-redaktion",
                      created_at=clock())  # fmt: skip
    await engine.stop()  # its senders take nothing from now on: the delivery stays queued
    created = await engine.store.create(draft)
    await engine.store.approve(created.id, created.version, "presse-freigabe")
    await engine.enqueue(created.id)
    await engine.settle_planning()
    await engine.pause(created.id)
    queue = keys.broadcast_queue(created.id, Channel.TELEGRAM)
    assert await redis.xlen(queue) == 1, "the paused broadcast holds the resident's chat id"
    began = clock()
    await sweep_at(service, clock, began + timedelta(days=29, hours=23))
    assert await engine.store.state(created.id) is State.PAUSED
    await sweep_at(service, clock, began + timedelta(days=30))
    assert await engine.store.state(created.id) is State.CANCELLED
    assert not await redis.exists(queue, keys.broadcast_plan(created.id))
    left = await traces(redis, str(CHAT))
    assert left, "the resident is still subscribed"
    assert not [key for key in left if "{bc:" in key], "no delivery record holds their chat id"
    cancels = [entry for entry in await audit(service) if entry["action"] == "cancel"]
    assert [(entry["who"], entry["broadcast"]) for entry in cancels] == [("system", created.id)]
    assert (await engine.progress(created.id)).channels[Channel.TELEGRAM].total == 1, "counters stay"


async def test_the_audit_log_keeps_audit_days(say: Say, service: Service, clock: ManualClock) -> None:
    await say(100002, "/meldung verkehr Die B7 ist gesperrt.")
    assert [entry["action"] for entry in await audit(service)] == ["draft"]
    now = clock()  # entries take their time from the service's clock, as their stream ids
    # (The desk's own upkeep may audit the draft's expiry meanwhile: only the draft's entry is followed.)
    await sweep_at(service, clock, now + timedelta(days=364))
    assert "draft" in [entry["action"] for entry in await audit(service)]
    await sweep_at(service, clock, now + timedelta(days=366))
    assert "draft" not in [entry["action"] for entry in await audit(service)]
