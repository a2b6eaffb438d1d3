"""The audit log on a real Redis: appends from several processes at once keep one unbroken chain."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from broadcasts.audit import Action, AuditLog, Entry, Via
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
