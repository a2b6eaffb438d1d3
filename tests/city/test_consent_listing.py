"""After the city changed its privacy notice, the listing of who has not agreed yet walks every resident
in steps that resume where they stopped, in every Redis mode: on a cluster, every primary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio.cluster import RedisCluster

from city.connection import RedisClient
from city.consent import NOTICE_SCAN, outdated_consents
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident
from tests.conftest import parametrize_by_redis_mode

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_redis_mode(metafunc)


async def test_the_listing_names_exactly_those_on_an_older_notice(
    redis: RedisClient, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    residents = Residents(redis, keys, UTC)
    # More residents than one step looks at, so that the listing takes several steps on every node.
    old = [Resident(Channel.TELEGRAM, str(n)) for n in range(1, NOTICE_SCAN + 300)]
    current = [Resident(Channel.WHATSAPP, f"49151{n:07d}") for n in range(1, 201)]
    for version, group in (("v1", old), ("v2", current)):
        for start in range(0, len(group), 100):
            await asyncio.gather(
                *(
                    residents.consent(r, language="de", version=version, at=AT)
                    for r in group[start : start + 100]
                )
            )

    steps = 1
    while not await residents.consents.list_awaiting("v2"):
        steps += 1
        assert steps < 100, "the listing ends"
    assert steps > 1, "the listing resumed where its last step stopped"
    if isinstance(redis, RedisCluster):
        assert steps >= len(redis.get_primaries()), "every primary was walked"

    telegram = [r.chat_id for r in old]
    assert await outdated_consents(redis, keys, Channel.TELEGRAM, telegram, "v2") == [True] * len(old)
    whatsapp = [r.chat_id for r in current]
    assert await outdated_consents(redis, keys, Channel.WHATSAPP, whatsapp, "v2") == [False] * len(current)
    # One who agrees is off the list at once.
    await residents.consent(old[0], language="de", version="v2", at=AT)
    assert await outdated_consents(redis, keys, Channel.TELEGRAM, telegram[:2], "v2") == [False, True]
    assert await residents.consents.list_awaiting("v2"), "a complete listing is not made again"
