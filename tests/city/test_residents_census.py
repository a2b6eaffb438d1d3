"""A walk over every resident (for the headcount in `stadtfunk stats`, and any check over everyone)
finds each resident once in every Redis mode; on a cluster, that means on every primary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio.cluster import RedisCluster

from city.connection import RedisClient
from city.keys import Keys
from city.residents import Headcount, Residents
from city.values import Channel, Resident
from tests.conftest import parametrize_by_redis_mode

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_redis_mode(metafunc)


async def agree(residents: Residents, resident: Resident) -> None:
    await residents.consent(resident, language="de", version="v1", at=AT)
    record = await residents.get(resident)
    assert record is not None
    await residents.subscribe(record, "verkehr", AT)


async def test_every_resident_is_found_once_and_counted(redis: RedisClient, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    residents = Residents(redis, keys, UTC)
    # More than a page of the headcount's reads, on one messenger.
    telegram = [Resident(Channel.TELEGRAM, str(n)) for n in range(1, 601)]
    whatsapp = [Resident(Channel.WHATSAPP, f"49151{n:07d}") for n in range(1, 101)]
    everyone = telegram + whatsapp
    for start in range(0, len(everyone), 50):
        await asyncio.gather(*(agree(residents, resident) for resident in everyone[start : start + 50]))
    for resident in telegram[:7]:
        await residents.mark_inactive(resident, AT)
    # A language chosen before agreeing is no resident; another deployment's residents are not ours.
    await residents.set_language(Resident(Channel.TELEGRAM, "999999"), "en")
    await agree(Residents(redis, Keys(f"{key_prefix}-other"), UTC), Resident(Channel.TELEGRAM, "5"))

    found = [resident async for resident in residents.every()]
    # A set: SCAN may name a key twice if the server resizes its tables meanwhile; the headcount does not.
    assert set(found) == {*everyone, Resident(Channel.TELEGRAM, "999999")}
    assert await residents.headcount() == {
        Channel.TELEGRAM: Headcount(600, 7),
        Channel.WHATSAPP: Headcount(100, 0),
    }
    if isinstance(redis, RedisCluster):
        primaries = {redis.get_node_from_key(keys.resident(resident)) for resident in everyone}
        assert len(primaries) == 3, "the residents lie on every primary, and the walk found them all"

    await redis.delete(*[key async for key in redis.scan_iter(match=f"{key_prefix}-other:*")])


def test_only_a_records_key_names_a_resident() -> None:
    keys = Keys("stadtfunk")
    resident = Resident(Channel.WHATSAPP, "4915112345678")
    assert keys.resident_of(keys.resident(resident)) == resident
    for other in (
        keys.resident_topics(resident),
        keys.resident_misses(resident),
        Keys("andere").resident(resident),
        "stadtfunk:res:{xx:1}",
        "stadtfunk:res:{tg}",
    ):
        assert keys.resident_of(other) is None
