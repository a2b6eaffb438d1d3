"""Aggregate figures for staff (/statistik, its chart) and operators: counts only, never a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.residents import subscriber_counts
from city.retention import Expiry
from city.values import Channel

DAYS = 30
OUTCOMES = ("sent", "failed", "blocked", "retired")
# The subscriber levels behind the chart's 30 days, kept a few days longer and no more.
LEVELS_TTL_S = 35 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    broadcasts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent, failed, blocked, retired: all channels
    erased: int = 0  # residents erased after a retention period, all channels


@dataclass(frozen=True, slots=True)
class History:
    """The last DAYS days, oldest first, today last: what the chart draws."""

    days: list[date]
    # topic -> subscribers at the end of each day, all channels; None before any day was recorded.
    subscribers: dict[str, list[int | None]]
    delivered: list[int]
    undelivered: list[int]  # failed, blocked or retired


@dataclass(frozen=True, slots=True)
class Snapshot:
    subscribers: dict[tuple[str, Channel], int]  # (topic, channel) -> now, at once and daily digest
    change_7: dict[tuple[str, Channel], int]  # subscribed minus unsubscribed in the last 7 days
    change_30: dict[tuple[str, Channel], int]
    days: list[Day]  # the last 7 days, newest first
    history: History


async def snapshot(
    redis: RedisClient, keys: Keys, city: City, today: date, channels: tuple[Channel, ...]
) -> Snapshot:
    """The figures now; taking them also records today's subscriber level for the chart's history."""
    pairs = [(topic.id, channel) for topic in city.topics for channel in channels]
    days = [today - timedelta(days=n) for n in range(DAYS)]
    subscribers = await subscriber_counts(redis, keys, pairs)
    async with redis.pipeline(transaction=False) as pipe:
        if subscribers:
            pipe.hset(keys.daily_levels(today), mapping={_field(*pair): n for pair, n in subscribers.items()})
            pipe.expire(keys.daily_levels(today), LEVELS_TTL_S)
        for day in days:
            pipe.hgetall(keys.daily_stats(day))
            pipe.hgetall(keys.daily_levels(day))
        answers = await pipe.execute()
    answers = answers[2:] if subscribers else answers
    daily, levels = answers[0::2], answers[1::2]
    change_7: dict[tuple[str, Channel], int] = {}
    change_30: dict[tuple[str, Channel], int] = {}
    for age, fields in enumerate(daily):
        for topic_id, channel in pairs:
            suffix = _field(topic_id, channel)
            delta = int(fields.get(f"subscribe:{suffix}", 0)) - int(fields.get(f"unsubscribe:{suffix}", 0))
            change_30[(topic_id, channel)] = change_30.get((topic_id, channel), 0) + delta
            if age < 7:
                change_7[(topic_id, channel)] = change_7.get((topic_id, channel), 0) + delta
    recent = [_day(day, fields, channels) for day, fields in zip(days[:7], daily[:7], strict=True)]
    every_day = [_day(day, fields, channels) for day, fields in zip(days, daily, strict=True)]
    return Snapshot(
        subscribers, change_7, change_30, recent, _history(city, channels, every_day[::-1], levels[::-1])
    )


def _day(day: date, fields: dict[str, str], channels: tuple[Channel, ...]) -> Day:
    return Day(
        day=day,
        broadcasts=int(fields.get("broadcasts", 0)),
        outcomes={
            outcome: sum(int(fields.get(f"{outcome}:{channel.value}", 0)) for channel in channels)
            for outcome in OUTCOMES
        },
        erased=sum(
            int(fields.get(f"erased:{expiry}:{channel.value}", 0))
            for expiry in Expiry
            for channel in channels
        ),
    )


def _history(
    city: City, channels: tuple[Channel, ...], days: list[Day], levels: list[dict[str, str]]
) -> History:
    subscribers: dict[str, list[int | None]] = {}
    for topic in city.topics:
        line: list[int | None] = []
        for recorded in levels:
            counts = [recorded.get(_field(topic.id, channel)) for channel in channels]
            # A day nobody looked at the figures (or the service was down) keeps the day before's level.
            known = [int(count) for count in counts if count is not None]
            line.append(sum(known) if known else line[-1] if line else None)
        subscribers[topic.id] = line
    return History(
        days=[day.day for day in days],
        subscribers=subscribers,
        delivered=[day.outcomes["sent"] for day in days],
        undelivered=[sum(day.outcomes[o] for o in OUTCOMES if o != "sent") for day in days],
    )


def _field(topic_id: str, channel: Channel) -> str:
    return f"{topic_id}:{channel.value}"
