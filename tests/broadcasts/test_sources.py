"""The polled sources' ledger on a real Redis: lease, health told once each way, items taken once."""

from __future__ import annotations

import redis.asyncio as aioredis

from broadcasts.sources import Health, HealthChange, Sources, Validators
from city.keys import Keys
from tests.conftest import ManualClock


def ledger(redis: aioredis.Redis, key_prefix: str, down_after: int = 3) -> Sources:
    return Sources(redis, Keys(key_prefix), down_after=down_after, lease_s=30)


async def test_one_process_leads_until_it_releases(redis: aioredis.Redis, key_prefix: str) -> None:
    sources = ledger(redis, key_prefix)
    assert await sources.lead("presse", "host-a-1")
    assert await sources.lead("presse", "host-a-1"), "the holder renews"
    assert not await sources.lead("presse", "host-b-2")
    await sources.release("presse", "host-b-2")  # not the holder: nothing happens
    assert not await sources.lead("presse", "host-b-2")
    await sources.release("presse", "host-a-1")
    assert await sources.lead("presse", "host-b-2")
    assert await sources.lead("warnungen", "host-a-1"), "each source has its own lease"


async def test_down_is_told_once_after_failures_in_a_row_and_recovery_once(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    sources = ledger(redis, key_prefix, down_after=3)
    answers = [await sources.failed("presse", clock(), "timeout") for _ in range(2)]
    assert answers == [None, None]
    assert await sources.failed("presse", clock(), "HTTP 503") == HealthChange(
        "presse", Health.DOWN, "HTTP 503"
    )
    assert await sources.failed("presse", clock(), "HTTP 503") is None, "told once"
    status = await sources.status("presse")
    assert (status.failures, status.error, status.down, status.last_good) == (4, "HTTP 503", True, None)
    clock.advance(minutes=5)
    recovered = await sources.succeeded("presse", clock(), Validators('"v1"', ""), new_items=0)
    assert recovered == HealthChange("presse", Health.RECOVERED, "")
    assert await sources.succeeded("presse", clock(), Validators('"v1"', ""), new_items=0) is None
    status = await sources.status("presse")
    assert (status.failures, status.down, status.last_good, status.last_new_item) == (0, False, clock(), None)


async def test_a_single_failure_between_good_polls_tells_nobody(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    sources = ledger(redis, key_prefix, down_after=2)
    assert await sources.failed("presse", clock(), "timeout") is None
    assert await sources.succeeded("presse", clock(), Validators(), new_items=1) is None
    assert await sources.failed("presse", clock(), "timeout") is None, "the count starts again"


async def test_validators_and_due_times_are_kept(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    sources = ledger(redis, key_prefix)
    assert await sources.due("presse", 600, clock())
    assert await sources.validators("presse") == Validators()
    await sources.succeeded(
        "presse", clock(), Validators('"abc"', "Wed, 02 Dec 2026 06:00:00 GMT"), new_items=2
    )
    assert await sources.validators("presse") == Validators('"abc"', "Wed, 02 Dec 2026 06:00:00 GMT")
    assert (await sources.status("presse")).last_new_item == clock()
    clock.advance(seconds=599)
    assert not await sources.due("presse", 600, clock())
    clock.advance(seconds=1)
    assert await sources.due("presse", 600, clock())


async def test_an_item_is_new_once_while_kept(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    sources = ledger(redis, key_prefix)
    long_guid = "https://www.stadt-beispiel.de/presse/" + "x" * 400
    assert await sources.first_time("presse", "guid-1", clock(), keep_s=86400)
    assert await sources.first_time("presse", long_guid, clock(), keep_s=86400)
    assert not await sources.first_time("presse", "guid-1", clock(), keep_s=86400)
    assert not await sources.first_time("presse", long_guid, clock(), keep_s=86400)
    assert await sources.first_time("warnungen", "guid-1", clock(), keep_s=86400), "per source"
    clock.advance(days=2)
    assert await sources.first_time("presse", "guid-2", clock(), keep_s=86400)
    assert await sources.first_time("presse", "guid-1", clock(), keep_s=86400), "forgotten after keep_s"
    members = await redis.zrange(Keys(key_prefix).source_seen("presse"), 0, -1)
    assert all(len(member) <= 200 for member in members)
