"""The service's privacy upkeep, every half minute: retention that ends, and erasure that reaches the disk.

- Residents past a retention period of the city file (`retention:`) are erased, the same erasure as
  /loeschen; the daily figures count them and the audit log says how many, never who.
- Broadcasts' delivery records past `delivery_records_days` are deleted (broadcasts/records.py), and
  the audit log's entries past `audit_days`.
- After the city changed its privacy notice, the residents who have not agreed to it yet are listed
  (city/consent.py), for the planner.
- After erasures the append-only file is rewritten, at most every ERASURE_REWRITE_MINUTES
  (bot/storage/rewrite.py).

One process sweeps at a time (a lease in Redis); any may start the rewrite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.assembly import audit_log
from bot.settings import Settings
from bot.storage.client import Storage
from bot.storage.rewrite import DiskRewrite
from broadcasts.audit import Action, AuditLog, Entry
from broadcasts.engine import Engine
from broadcasts.records import DeliveryRecords
from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.retention import Expiry

log = logging.getLogger(__name__)

# Residents erased per reason and sweep: a backlog after a long stop is worked off over a few sweeps.
BATCH = 500
SWEEP_LEASE_MS = 120_000
# Processing time a sweep spends listing who has not agreed to a changed privacy notice (a million records
# take a few beats); well inside the lease.
LISTING_BUDGET_S = 20.0
SYSTEM = "system"


class PrivacyUpkeep:
    def __init__(
        self,
        *,
        redis: RedisClient,
        keys: Keys,
        residents: Residents,
        records: DeliveryRecords,
        audit: AuditLog,
        disk: DiskRewrite,
        cancel: Callable[[str], Awaitable[object]],
        city: Callable[[], City],
        clock: Callable[[], datetime],
        rewrite_every: timedelta,
        worker: str,
    ) -> None:
        self._redis = redis
        self._lease = keys.retention()
        self._residents = residents
        self._records = records
        self._audit = audit
        self._disk = disk
        self._cancel = cancel
        self._city = city
        self._clock = clock
        self._rewrite_every = rewrite_every
        self._worker = worker

    async def once(self) -> None:
        """Sweep what is past its retention period (if no other process does), then rewrite the
        append-only file if erasures wait for it and the last rewrite is old enough."""
        now = self._clock()
        if await self._redis.set(self._lease, self._worker, nx=True, px=SWEEP_LEASE_MS):
            try:
                await self.sweep(now)
            finally:
                if await self._redis.get(self._lease) == self._worker:  # not another's, after a slow sweep
                    await self._redis.delete(self._lease)
        await self._disk.run_due(now, self._rewrite_every)

    async def sweep(self, now: datetime) -> None:
        """Erase the residents past their retention period and delete old delivery records and audit
        entries."""
        city = self._city()
        retention = city.retention
        periods = {Expiry.UNSUBSCRIBED: retention.unsubscribed_days, Expiry.BLOCKED: retention.blocked_days}
        topics = [topic.id for topic in city.topics]
        # After the city changed its privacy notice: list who has not agreed yet, so that planning news
        # asks one list instead of every record (it asks the records until the list is complete).
        deadline = time.monotonic() + LISTING_BUDGET_S
        while (
            not await self._residents.consents.list_awaiting(city.privacy.version)
            and time.monotonic() < deadline
        ):
            continue
        # First, so that what this sweep records is never what it trims.
        await self._audit.trim(now - timedelta(days=retention.audit_days), Entry(now, SYSTEM, Action.TRIM))
        erased = dict.fromkeys(Expiry, 0)
        for expiry, days in periods.items():
            before = now - timedelta(days=days)
            for resident in await self._residents.retention.expired(expiry, before, BATCH):
                if await self._residents.erase_expired(resident, expiry, before, topics, now):
                    erased[expiry] += 1
        if any(erased.values()):
            detail = ", ".join(f"{count} {expiry.value}" for expiry, count in erased.items() if count)
            await self._audit.record(Entry(now, SYSTEM, Action.ERASURE, detail=f"retention: {detail}"))
            log.info("retention: erased %s", detail)
        _, cancelled = await self._records.expire(now, retention.delivery_records_days, self._cancel)
        for broadcast_id in cancelled:
            detail = f"retention: still unfinished after {retention.delivery_records_days} days"
            await self._audit.record(Entry(now, SYSTEM, Action.CANCEL, broadcast_id, detail))


def privacy_upkeep(
    *,
    storage: Storage,
    residents: Residents,
    engine: Engine,
    city: Callable[[], City],
    clock: Callable[[], datetime],
    settings: Settings,
    worker: str,
) -> PrivacyUpkeep:
    return PrivacyUpkeep(
        redis=storage.redis,
        keys=storage.keys,
        residents=residents,
        records=DeliveryRecords(storage.redis, storage.keys, engine.store),
        audit=audit_log(storage, settings),
        disk=DiskRewrite(storage.redis, storage.keys),
        cancel=engine.cancel,
        city=city,
        clock=clock,
        rewrite_every=timedelta(minutes=settings.erasure_rewrite_minutes),
        worker=worker,
    )
