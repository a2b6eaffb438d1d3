"""What the conversation may use (handlers.router.Services), built from storage, the engine and the city."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.assembly import build_editorial
from bot.control import Announcement, ControlChannel
from bot.storage.client import Storage
from broadcasts.audit import AuditLog
from broadcasts.channel import ChannelClient
from broadcasts.engine import Engine
from broadcasts.limiter import Limiter
from broadcasts.model import Broadcast
from broadcasts.scheduler import Scheduler
from broadcasts.sources import Sources
from city.config import City
from city.residents import Residents
from city.statistics import snapshot
from city.values import Clock
from handlers.rendering import composer
from handlers.router import Services
from handlers.texts import Texts

# A source counts as down (and the admins hear of it) after this many failed polls in a row, so that one
# slow answer is no alarm.
DOWN_AFTER = 3
# The poller renews its lease on every beat (bot/feeds.py); another process takes over this long after
# the poller stopped without giving it up.
LEASE_S = 120.0


def build_services(
    *,
    storage: Storage,
    residents: Residents,
    engine: Engine,
    channels: Sequence[tuple[ChannelClient, Limiter]],
    city: Callable[[], City],
    clock: Clock,
    texts: Texts,
    rate_limit_margin: float,
    audit: AuditLog,
    templates_needed: Callable[[Broadcast], Awaitable[int]] | None = None,
) -> tuple[Services, Scheduler]:
    """The conversation's services, and the scheduler that shares their publisher."""
    compose = composer(city, texts)
    control = ControlChannel(storage.redis, storage.keys)
    editorial = build_editorial(
        redis=storage.redis,
        keys=storage.keys,
        engine=engine,
        city=city,
        residents=residents,
        clock=clock,
        texts=texts,
        audit=audit,
        # Every process re-arms its timer, so the one that is free wakes on time.
        on_schedule=lambda: control.announce(Announcement.SCHEDULE_CHANGED),
    )
    margin = 1 - rate_limit_margin
    services = Services(
        residents=residents,
        city=city,
        texts=texts,
        clock=clock,
        desk=editorial.desk,
        render=lambda broadcast, language: compose(broadcast, language).text,
        limits={client.channel: margin / client.pacing.overall.interval for client, _ in channels},
        recent_items=editorial.recent_items,
        pending_digest=editorial.pending_digest,
        statistics=lambda: snapshot(
            storage.redis,
            storage.keys,
            city(),
            clock().astimezone(city().tz).date(),
            tuple(client.channel for client, _ in channels),
        ),
        templates_needed=templates_needed,
        audit=audit,
        sources=Sources(storage.redis, storage.keys, down_after=DOWN_AFTER, lease_s=LEASE_S),
    )
    return services, editorial.scheduler
