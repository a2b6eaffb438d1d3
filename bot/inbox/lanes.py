"""Per-chat lanes: one chat's messages are handled one after another, different chats side by side.

Handling (reading the resident's record, the conversation, storing the answer) takes one of a bounded
number of slots. Sending the answer does not: it waits in its chat's own reply queue for the chat's turn
at the platform's limit, so a resident whose answers are paced at 1/s, or one who floods, never holds
up anybody else, and the next message of the same chat is handled while the last answer still waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Chats handled at the same time; each handling is a few Redis round trips, so this keeps Redis and the
# event loop busy without letting a burst of thousands of chats start thousands of handlings at once.
HANDLING_SLOTS = 32
# A handling that failed (storage away) is tried again after a pause, this often, then given up (logged):
# one bad update must not jam its chat.
MAX_ATTEMPTS = 5
RETRY_PAUSE_S = 1.0
# How long stopping waits for handlings and answers under way before it leaves them to the next start.
STOP_GRACE_S = 5.0

Send = Callable[[], Awaitable[None]]
Job = Callable[[], Awaitable[Send | None]]


@dataclass
class _Lane:
    jobs: deque[tuple[Job, asyncio.Future[None]]] = field(default_factory=deque)
    sends: deque[tuple[Send, asyncio.Future[None]]] = field(default_factory=deque)
    handling: asyncio.Task[None] | None = None
    sending: asyncio.Task[None] | None = None


class Lanes:
    def __init__(
        self,
        *,
        slots: int = HANDLING_SLOTS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_pause_s: float = RETRY_PAUSE_S,
    ) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._lanes: dict[str, _Lane] = {}
        self._sleep = sleep
        self._retry_pause_s = retry_pause_s
        self._open = 0
        self._calmer = asyncio.Event()

    @property
    def open(self) -> int:
        """Jobs submitted and not yet finished (handled and, where there is one, their answer sent)."""
        return self._open

    def submit(self, lane: str, job: Job) -> asyncio.Future[None]:
        """Queue `job` behind the lane's earlier ones; the future is done once it and its answer are."""
        finished = asyncio.get_running_loop().create_future()
        state = self._lanes.setdefault(lane, _Lane())
        state.jobs.append((job, finished))
        self._open += 1
        finished.add_done_callback(self._closed)
        if state.handling is None or state.handling.done():
            state.handling = asyncio.create_task(self._handle(lane, state))
        return finished

    async def calm(self, below: int) -> None:
        """Wait until fewer than `below` jobs are open: the reader's brake."""
        while self._open >= below:
            self._calmer.clear()
            await self._calmer.wait()

    async def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let what is under way finish for a while; what does not stays in the inbox for the next start."""
        tasks = [t for lane in self._lanes.values() for t in (lane.handling, lane.sending) if t is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for lane in self._lanes.values():
            for _, finished in (*lane.jobs, *lane.sends):
                finished.cancel()
        self._lanes.clear()

    def _closed(self, _: asyncio.Future[None]) -> None:
        self._open -= 1
        self._calmer.set()

    async def _handle(self, name: str, lane: _Lane) -> None:
        while lane.jobs:
            job, finished = lane.jobs[0]
            send = await self._attempt(job)
            lane.jobs.popleft()
            if send is None:
                _settle(finished)
                continue
            lane.sends.append((send, finished))
            if lane.sending is None or lane.sending.done():
                lane.sending = asyncio.create_task(self._send(name, lane))
        self._forget(name, lane)

    async def _attempt(self, job: Job) -> Send | None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._slots:
                    return await job()
            except Exception as exc:
                if attempt == MAX_ATTEMPTS:
                    log.error("inbound update dropped after %d attempts: %s", attempt, type(exc).__name__)
                    return None
                log.error("inbound update not handled, will retry: %s", type(exc).__name__)
                await self._sleep(self._retry_pause_s)
        return None

    async def _send(self, name: str, lane: _Lane) -> None:
        while lane.sends:
            send, finished = lane.sends[0]
            try:
                await send()
            except Exception as exc:  # the adapter reports platform refusals itself; this is the rest
                log.error("answer not sent: %s", type(exc).__name__)
            lane.sends.popleft()
            _settle(finished)
        self._forget(name, lane)

    def _forget(self, name: str, lane: _Lane) -> None:
        busy = any(t is not None and not t.done() and t is not asyncio.current_task()
                   for t in (lane.handling, lane.sending))  # fmt: skip
        if not lane.jobs and not lane.sends and not busy and self._lanes.get(name) is lane:
            del self._lanes[name]


def _settle(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)
