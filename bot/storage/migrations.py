"""Upgrades of the data in Redis from one schema version to the next, run once on start under a lease.

1 → 2: the audit log's entries get their chain of keyed hashes (keeping their ids, their times); every
broadcast gets a content version, approved as it stands where it was approved before; the index of open
broadcasts is built from the index of all broadcasts, so expiry and /offen reach the oldest as well.

2 → 3: retention (city file `retention:`) needs to know who has no topics or blocked the bot, and which
broadcasts still hold delivery records: both are listed once. Every step may run twice safely.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from broadcasts.audit import Action, AuditLog
from broadcasts.records import DeliveryRecords
from broadcasts.store import BroadcastStore
from city.connection import RedisClient
from city.keys import SCHEMA_VERSION, Keys
from city.residents import Residents

log = logging.getLogger(__name__)

LEASE_MS = 120_000
# A second process starting meanwhile waits this long, looking this often, for the first to finish.
WAIT_S = 120.0
LOOK_EVERY_S = 0.2


async def upgrade(redis: RedisClient, keys: Keys, stored: int, audit_secret: bytes) -> bool:
    """Bring data at schema `stored` up to SCHEMA_VERSION; another process doing it is waited for.
    False when that other process did not finish in time."""
    if not await redis.set(keys.migration(), "1", nx=True, px=LEASE_MS):
        return await _wait_for_other(redis, keys)
    try:
        if stored < 2:
            await _to_2(redis, keys, audit_secret)
        if stored < 3:
            await _to_3(redis, keys)
        await redis.set(keys.schema(), SCHEMA_VERSION)
    finally:
        await redis.delete(keys.migration())
    return True


async def _to_2(redis: RedisClient, keys: Keys, audit_secret: bytes) -> None:
    audit = AuditLog(redis, keys, audit_secret)
    chained = await audit.rechain()
    approvers: dict[str, str] = {}
    async for entry in audit.since(datetime.fromtimestamp(0, UTC)):
        if entry.action == Action.APPROVE and entry.broadcast_id:
            approvers[entry.broadcast_id] = entry.who
    looked = await BroadcastStore(redis, keys).migrate(approvers)
    log.info("data upgraded to schema 2: %d audit entries chained, %d broadcasts versioned", chained, looked)


async def _to_3(redis: RedisClient, keys: Keys) -> None:
    listed = await Residents(redis, keys, UTC).index_for_retention(datetime.now(UTC))
    await DeliveryRecords(redis, keys, BroadcastStore(redis, keys)).list_existing()
    log.info("data upgraded to schema 3: %d residents listed for retention", listed)


async def _wait_for_other(redis: RedisClient, keys: Keys) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while loop.time() < deadline:
        if int(await redis.get(keys.schema()) or 0) >= SCHEMA_VERSION:
            return True
        await asyncio.sleep(LOOK_EVERY_S)
    return False
