"""Running the service as `stadtfunk run` does: until SIGTERM or SIGINT; SIGHUP reloads the city file."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.heap import settle_after_start
from bot.service import Service

log = logging.getLogger(__name__)


async def run_until_signalled(service: Service) -> None:
    """Run until SIGTERM or SIGINT, then shut down in order: stop taking work, finish, close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[bool]] = set()

    def reload_on_hangup() -> None:
        task = asyncio.create_task(service.reload_city())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_on_hangup)
    await service.start()
    settle_after_start()
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await service.stop()
