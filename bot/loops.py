"""The service's background loops: each runs a step on a beat until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# How long `drain` waits for a value before it looks at the stop event again.
LOOK_AT_STOP_S = 0.2


async def every(
    seconds: float, step: Callable[[], Awaitable[object]], stopping: asyncio.Event, what: str
) -> None:
    """Run `step` now and then every `seconds` until `stopping` is set. A failing step is logged by the
    kind of failure only (its message may hold a person's data) and tried again on the next beat."""
    # Loops end on the stop event rather than by cancellation, which can strand a Redis connection.
    while not stopping.is_set():
        try:
            await step()
        except Exception as exc:
            log.error("%s failed: %s", what, type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def drain(
    queue: asyncio.Queue[T], handle: Callable[[T], Awaitable[object]], stopping: asyncio.Event, what: str
) -> None:
    """Hand each value the queue gets to `handle` until `stopping` is set; a failure is logged by kind."""
    while not stopping.is_set():
        try:
            value = await asyncio.wait_for(queue.get(), timeout=LOOK_AT_STOP_S)
        except TimeoutError:
            continue
        try:
            await handle(value)
        except Exception as exc:
            log.error("%s failed: %s", what, type(exc).__name__)
