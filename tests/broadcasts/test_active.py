"""The active lists: the priority encoding read back, and the one reader every part asks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from broadcasts.active import PRIORITY_SCALE, ActiveLists, Listed, priority_of, score
from broadcasts.model import Broadcast, Priority
from city.keys import Keys
from city.values import Channel

EARLY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def made(broadcast_id: str, priority: Priority, minutes: int = 0) -> Broadcast:
    return Broadcast(
        id=broadcast_id,
        topics=("verkehr",),
        text_de="B7",
        author="presse-redaktion",
        created_at=EARLY + timedelta(minutes=minutes),
        priority=priority,
    )


@pytest.mark.parametrize("priority", list(Priority))
@pytest.mark.parametrize("created_at", [EARLY, datetime(2286, 1, 1, tzinfo=UTC)])
def test_a_score_gives_back_its_priority(priority: Priority, created_at: datetime) -> None:
    assert priority_of(score(replace(made("1", priority), created_at=created_at))) is priority


def test_a_later_alert_sorts_before_earlier_news_and_the_older_first_within_a_priority() -> None:
    alert, news, older_news = (
        made("3", Priority.ALERT, 60),
        made("2", Priority.NEWS, 30),
        made("1", Priority.NEWS),
    )
    assert score(alert) < score(older_news) < score(news)


def test_a_priority_it_does_not_know_counts_as_the_lowest() -> None:
    assert priority_of(7 * PRIORITY_SCALE + 1) is max(Priority)


async def test_the_lists_read_most_urgent_first_each_broadcast_once(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    lists = ActiveLists(redis, Keys(key_prefix))
    digest = made("digest-2026-11-24", Priority.DIGEST)  # ids are not all numbers
    news, alert = made("10", Priority.NEWS, 5), made("11", Priority.ALERT, 10)
    await lists.add(digest, [Channel.TELEGRAM, Channel.WHATSAPP])
    await lists.add(news, [Channel.TELEGRAM])
    await lists.add(alert, [Channel.WHATSAPP])

    assert await lists.ids(Channel.TELEGRAM) == ["10", "digest-2026-11-24"]
    assert await lists.ids(Channel.TELEGRAM, limit=1) == ["10"]
    assert await lists.listed(Channel.WHATSAPP) == [
        Listed("11", Priority.ALERT),
        Listed("digest-2026-11-24", Priority.DIGEST),
    ]
    assert await lists.everywhere() == ["11", "10", "digest-2026-11-24"]

    await lists.remove("digest-2026-11-24", [Channel.TELEGRAM])
    assert await lists.anywhere("digest-2026-11-24")
    await lists.remove("digest-2026-11-24", [Channel.WHATSAPP])
    assert not await lists.anywhere("digest-2026-11-24")
    assert await lists.everywhere() == ["11", "10"]
