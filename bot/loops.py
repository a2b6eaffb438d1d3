"""The service's background loops: each runs a step on a beat until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


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
