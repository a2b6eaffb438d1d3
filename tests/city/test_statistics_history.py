"""The chart's 30 days: subscriber levels recorded per day (counts only, kept 35 days) and deliveries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from city.config import load_city
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.statistics import DAYS, LEVELS_TTL_S, snapshot
from city.values import Channel, Resident
from tests.conftest import parametrize_by_redis_mode

CITY = load_city(Path(__file__).parents[2] / "bot" / "cities" / "beispielstadt.yaml")
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CHANNELS = (Channel.TELEGRAM, Channel.WHATSAPP)
TG, WA = Channel.TELEGRAM.value, Channel.WHATSAPP.value


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_redis_mode(metafunc)


async def join(residents: Residents, resident: Resident, topic: str, at: datetime) -> None:
    await residents.consent(resident, language="de", version="v1", at=at)
    record = await residents.get(resident)
    assert record is not None
    await residents.subscribe(record, topic, at)


async def test_each_day_keeps_the_level_last_seen_and_a_day_unseen_keeps_the_day_before(
    redis: RedisClient, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    residents = Residents(redis, keys, UTC)
    at = START
    await join(residents, Resident(Channel.TELEGRAM, "1"), "verkehr", at)
    await snapshot(redis, keys, CITY, at.date(), CHANNELS)  # day 0: 1
    at += timedelta(days=1)
    await join(residents, Resident(Channel.WHATSAPP, "4915100000002"), "verkehr", at)
    await join(residents, Resident(Channel.TELEGRAM, "3"), "kultur", at)
    await snapshot(redis, keys, CITY, at.date(), CHANNELS)  # day 1: 2 (both messengers), kultur 1
    at += timedelta(days=2)  # day 2 nobody looks
    record = await residents.get(Resident(Channel.TELEGRAM, "1"))
    assert record is not None
    await residents.unsubscribe(record, ["verkehr"], at)
    # A daily-digest reader counts as much as one who gets every item at once.
    digest = await residents.get(Resident(Channel.TELEGRAM, "3"))
    assert digest is not None
    await residents.set_daily(digest, True, at)
    figures = await snapshot(redis, keys, CITY, at.date(), CHANNELS)  # day 3: 1

    history = figures.history
    assert len(history.days) == DAYS
    assert history.days[-1] == at.date()
    assert history.days[0] == at.date() - timedelta(days=DAYS - 1)
    assert history.subscribers["verkehr"][-4:] == [1, 2, 2, 1]
    assert history.subscribers["kultur"][-4:] == [0, 1, 1, 1]
    assert history.subscribers["verkehr"][: DAYS - 4] == [None] * (DAYS - 4), "nothing known before"
    assert set(history.subscribers) == {topic.id for topic in CITY.topics}
    ttl = await redis.ttl(keys.daily_levels(at.date()))
    assert LEVELS_TTL_S - 60 < ttl <= LEVELS_TTL_S
    stored = await redis.hgetall(keys.daily_levels(at.date()))
    assert stored["verkehr:tg"] == "0"
    assert stored["verkehr:wa"] == "1"
    assert not any("4915100000002" in name or "4915100000002" in value for name, value in stored.items())


async def test_deliveries_per_day_come_from_the_daily_counters(redis: RedisClient, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    today = date(2026, 11, 30)
    await redis.hset(keys.daily_stats(today), mapping={f"sent:{TG}": 7, f"sent:{WA}": 3, f"failed:{TG}": 1})
    await redis.hset(
        keys.daily_stats(today - timedelta(days=2)), mapping={f"sent:{TG}": 5, f"blocked:{TG}": 2}
    )
    await redis.hset(keys.daily_stats(today - timedelta(days=DAYS)), mapping={f"sent:{TG}": 99})  # too old
    history = (await snapshot(redis, keys, CITY, today, CHANNELS)).history
    assert history.delivered[-3:] == [5, 0, 10]
    assert history.undelivered[-3:] == [2, 0, 1]
    assert sum(history.delivered) == 15
