"""Aggregate figures for staff (/statistik) and operators: counts only, never a person."""

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


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    broadcasts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent, failed, blocked, retired: all channels
    erased: int = 0  # residents erased after a retention period, all channels


@dataclass(frozen=True, slots=True)
class Snapshot:
    subscribers: dict[tuple[str, Channel], int]  # (topic, channel) -> now, at once and daily digest
    change_7: dict[tuple[str, Channel], int]  # subscribed minus unsubscribed in the last 7 days
    change_30: dict[tuple[str, Channel], int]
    days: list[Day]  # the last 7 days, newest first


async def snapshot(
    redis: RedisClient, keys: Keys, city: City, today: date, channels: tuple[Channel, ...]
) -> Snapshot:
    pairs = [(topic.id, channel) for topic in city.topics for channel in channels]
    days = [today - timedelta(days=n) for n in range(DAYS)]
    subscribers = await subscriber_counts(redis, keys, pairs)
    async with redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hgetall(keys.daily_stats(day))
        daily = await pipe.execute()
    change_7: dict[tuple[str, Channel], int] = {}
    change_30: dict[tuple[str, Channel], int] = {}
    for age, fields in enumerate(daily):
        for topic_id, channel in pairs:
            suffix = f"{topic_id}:{channel.value}"
            delta = int(fields.get(f"subscribe:{suffix}", 0)) - int(fields.get(f"unsubscribe:{suffix}", 0))
            change_30[(topic_id, channel)] = change_30.get((topic_id, channel), 0) + delta
            if age < 7:
                change_7[(topic_id, channel)] = change_7.get((topic_id, channel), 0) + delta
    recent = [
        Day(
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
        for day, fields in zip(days[:7], daily[:7], strict=True)
    ]
    return Snapshot(subscribers, change_7, change_30, recent)
