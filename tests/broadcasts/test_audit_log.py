"""The audit log on a real Redis: appends from several processes at once keep one unbroken chain; the
upgrade to a chained log works in every Redis mode."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from broadcasts.audit import Action, AuditLog, Entry, Via
from city.connection import RedisClient
from city.keys import Keys
from tests.broadcasts.conftest import AUDIT_SECRET
from tests.conftest import ManualClock


@pytest.mark.single_redis
async def test_processes_appending_at_once_keep_one_chain(
    redis: aioredis.Redis, redis_url: str, key_prefix: str, clock: ManualClock
) -> None:
    keys = Keys(key_prefix)
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(6)]
    try:

        async def process(number: int) -> None:
            own = AuditLog(clients[number], keys, AUDIT_SECRET)  # its own connection, lock and script
            await asyncio.gather(
                *(
                    own.record(Entry(clock(), f"staff-{number}", Action.EDIT, str(i), via=Via.CLI))
                    for i in range(40)
                )
            )

        await asyncio.gather(*(process(number) for number in range(6)))
    finally:
        for client in clients:
            await client.aclose()
    log = AuditLog(redis, keys, AUDIT_SECRET)
    report = await log.verify()
    assert (report.entries, report.broken) == (240, None)
    entries = [entry async for entry in log.since(clock())]
    assert [entry.n for entry in entries] == list(range(1, 241))
    assert len({entry.entry_id for entry in entries}) == 240
    assert all(entry.at == clock() for entry in entries), "one clock reading: the ids' sequence orders them"


async def test_the_upgrade_chains_an_old_log_in_place_in_every_redis_mode(
    redis: RedisClient, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    ids = []
    for who, action in (("presse-redaktion", "submit"), ("presse-freigabe", "approve")):
        fields = {"at": "2026-11-20T08:00:00+00:00", "who": who, "action": action, "broadcast": "2"}
        ids.append(str(await redis.xadd(keys.audit(), fields)))  # type: ignore[arg-type]
    log = AuditLog(redis, keys, AUDIT_SECRET)

    assert await log.rechain() == 2
    report = await log.verify()
    assert (report.entries, report.broken, report.first) == (2, None, ids[0])
    assert await redis.exists(keys.audit_rechain()) == 0
    assert await log.rechain() == 0, "a chained log is left alone"
