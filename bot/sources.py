"""The polled outside sources beside the messengers: the city's press feeds and the official warnings.
Both poll under leases on the shared source ledger, so any number of service processes may run them."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp

from bot.assembly import default_worker_name
from bot.feeds import FeedLoop, feed_loop
from bot.settings import Settings
from bot.storage.client import Storage
from bot.warnings import WarningLoop, warning_loop
from broadcasts.engine import Engine
from city.connection import REDIS_ERRORS
from handlers.router import Services
from handlers.values import Reply


def source_loops(
    *,
    settings: Settings,
    storage: Storage,
    session: aiohttp.ClientSession | None,
    engine: Engine | None,
    services: Services | None,
    clock: Callable[[], datetime],
    send: Callable[[list[Reply]], Awaitable[None]],
) -> tuple[FeedLoop | None, WarningLoop | None]:
    """The feeds' and the warnings' pollers; each None while the service is not fully built."""
    worker = settings.worker_name or default_worker_name()
    feeds = feed_loop(
        storage=storage, session=session, engine=engine, services=services, worker=worker, clock=clock,
        send=send,
    )  # fmt: skip
    warnings = warning_loop(
        storage=storage, session=session, engine=engine, services=services,
        api_url=settings.warnings_api_url, worker=worker, clock=clock, send=send,
    )  # fmt: skip
    return feeds, warnings


async def release(*loops: FeedLoop | WarningLoop | None) -> None:
    """Give up the leases at shutdown, so that another process polls at once (Redis may be away)."""
    for loop in loops:
        if loop is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await loop.release()
