"""The engine's small API (enqueue, pause, resume, spam_limited, cancel, progress) and the loops that run it.

Every service process runs the same engine against the same Redis: senders share the queues, the
planner of a broadcast holds a lease, and a supervisor beats each sender's heartbeat, reclaims the
work of dead senders and resumes planning that a dead process left unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, tzinfo

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel

from broadcasts.model import Amendment, Broadcast, InvalidTransition, State
from broadcasts.notice import Notice
from broadcasts.planner import TAKES_OVER, Planner, PlanningCancelled
from broadcasts.progress import Progress
from broadcasts.sender import Sender
from broadcasts.spam_limit import SpamLimit
from broadcasts.store import BroadcastStore

log = logging.getLogger(__name__)

SUPERVISE_EVERY_S = 2.0
PLAN_LEASE_MS = 30_000
UNFINISHED = (State.SENDING, State.PAUSED)


class Engine:
    def __init__(
        self,
        *,
        redis: RedisClient,
        keys: Keys,
        store: BroadcastStore,
        planner: Planner,
        senders: Sequence[Sender],
        spam: SpamLimit,
        worker: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tz: tzinfo = UTC,
    ) -> None:
        self._redis = redis
        self._tz = tz
        self._keys = keys
        self.store = store
        self._planner = planner
        self.senders = tuple(senders)
        self.channels = tuple(Channel(s.channel) for s in senders)
        self._spam = spam
        # What the engine decided to tell staff on its own (a broadcast paused for a spam limit, by a
        # sender or by spam_limited's caller): the service delivers them.
        self.notices: asyncio.Queue[Notice] = spam.notices
        self._worker = worker
        self._clock = clock
        self._sleep = sleep
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._planning: dict[str, asyncio.Task[None]] = {}

    # --- the API

    async def enqueue(self, broadcast_id: str, *, expect: State | None = None) -> None:
        """Start sending an approved (or due, or released) broadcast; `expect` names the only state it
        may come from, for callers racing other processes. Only the approved version moves: anything
        else raises NotApproved and stays where it is."""
        await self.store.transition(broadcast_id, State.QUEUED, expect=expect, bound=True)
        try:
            await self.complete(broadcast_id)
        except InvalidTransition as exc:
            # Another process found it QUEUED (as it would after a crash) and finished it first: it is
            # out all the same, and this caller, which queued it, is the one that sent it.
            if exc.current is State.CANCELLED:
                raise

    async def complete(self, broadcast_id: str) -> None:
        """Finish what enqueue began: also after a crash left the broadcast QUEUED, from any process."""
        broadcast = await self.store.get(broadcast_id)
        if broadcast is None:
            raise KeyError(broadcast_id)
        await self._planner.prepare(broadcast_id)
        now = self._clock()
        await self._planner.keep_refs(broadcast, now)
        if broadcast.amends is not None:
            await self._take_over(broadcast)
        await self.store.activate(broadcast, self.channels, now)
        try:
            await self.store.transition(broadcast_id, State.SENDING, expect=State.QUEUED)
        except InvalidTransition as exc:
            if exc.current is State.CANCELLED:
                # The cancel may have tidied up before this queued anything.
                await self._drop(broadcast_id)
            raise
        await self._redis.hincrby(self._keys.daily_stats(now.astimezone(self._tz).date()), "broadcasts", 1)
        await self._start_planning(broadcast)

    async def pause(self, broadcast_id: str, *, by: str = "", approver: bool = False) -> None:
        """Hold the rest; `approver`: an approver paused it, and only an approver lets it go on."""
        fields = {"paused_by": by, "approver_paused": "1" if approver else "0"}
        await self.store.transition(broadcast_id, State.PAUSED, fields=fields)

    async def resume(self, broadcast_id: str) -> None:
        await self.store.transition(broadcast_id, State.SENDING, bound=True)

    async def spam_limited(self, broadcast_id: str) -> Notice | None:
        """The platform throttles our number as spam: pause the broadcast. Returns the notice for its
        author only if this call paused it (None when paused already, ended, or the author is no longer
        in the city file); the caller puts it on `notices`."""
        return await self._spam.pause(broadcast_id)

    async def cancel(self, broadcast_id: str) -> State:
        """Stop a broadcast; whatever is not yet sent is dropped. Returns the state it was in."""
        previous = await self.store.transition(broadcast_id, State.CANCELLED)
        task = self._planning.pop(broadcast_id, None)
        if task is not None:
            task.cancel()
        await self._drop(broadcast_id)
        return previous

    async def _drop(self, broadcast_id: str) -> None:
        """Take a broadcast off every sender's list and delete what was queued for it."""
        await self.store.deactivate(broadcast_id, self.channels)
        keys = [
            self._keys.broadcast_seen(broadcast_id),
            self._keys.broadcast_erased(broadcast_id),
            self._keys.broadcast_plan(broadcast_id),
        ]
        for channel in self.channels:
            keys += [
                self._keys.broadcast_queue(broadcast_id, channel),
                self._keys.broadcast_sending(broadcast_id, channel),
            ]
        await self._redis.delete(*keys)

    async def progress(self, broadcast_id: str) -> Progress:
        return await self.store.progress(broadcast_id)

    async def _take_over(self, amendment: Broadcast) -> None:
        """A correction or retraction of a broadcast still on its way stops it: the rest of its audience
        gets the corrected text from the correction (planned after those who got the original), or
        nothing after a retraction. Again after a crash: the mark comes before the cancel."""
        original = await self.store.get(amendment.follows)
        if original is None:
            return
        await self.store.mark_amended(original.id, amendment.id)
        if original.state not in (State.QUEUED, *UNFINISHED):
            return
        if amendment.amends is Amendment.CORRECTION:
            await self._redis.hset(self._keys.broadcast_progress(amendment.id), TAKES_OVER, "1")
        with contextlib.suppress(InvalidTransition):  # it finished or was cancelled meanwhile
            await self.cancel(original.id)

    async def settle_planning(self) -> None:
        """Wait for the planning this process started; a command line tool exits only after it."""
        await asyncio.gather(*self._planning.values(), return_exceptions=True)

    # --- running

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(sender.run(self._stop)) for sender in self.senders]
        self._tasks.append(asyncio.create_task(self._supervise()))

    async def stop(self) -> None:
        """Let in-flight sends settle, hand back unsent claims, and stop planning (it resumes elsewhere)."""
        self._stop.set()
        for task in self._planning.values():
            task.cancel()
        await asyncio.gather(*self._tasks, *self._planning.values(), return_exceptions=True)
        self._tasks.clear()
        self._planning.clear()
        for sender in self.senders:
            await sender.queue.forget_worker()

    async def supervise_once(self) -> None:
        """Heartbeats, reclaiming the work of dead senders, and planning left unfinished."""
        now = self._clock().timestamp()
        for sender in self.senders:
            await sender.queue.heartbeat(now)
            dead = await sender.queue.dead_workers(now)
            if dead:
                for broadcast_id in await sender.queue.active(limit=1000):
                    if await sender.queue.reclaim(broadcast_id, dead):
                        sender.resume_later(broadcast_id)
                await sender.queue.bury(dead)
                log.info("reclaimed the deliveries of %d stopped sender(s) on %s", len(dead), sender.channel)
        for broadcast_id in await self._unplanned():
            broadcast = await self.store.get(broadcast_id)
            if broadcast is not None and broadcast_id not in self._planning:
                await self._start_planning(broadcast)
        for broadcast_id in self._planning:
            await self._redis.pexpire(self._lease_key(broadcast_id), PLAN_LEASE_MS)

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                await self.supervise_once()
            except Exception as exc:
                log.error("engine supervisor failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=SUPERVISE_EVERY_S)

    async def _unplanned(self) -> list[str]:
        ids: set[str] = set()
        for sender in self.senders:
            ids.update(await sender.queue.active(limit=1000))
        unplanned = []
        for broadcast_id in sorted(ids):
            progress = await self.store.progress(broadcast_id)
            if not progress.planned and progress.state in UNFINISHED:
                unplanned.append(broadcast_id)
        return unplanned

    async def _start_planning(self, broadcast: Broadcast) -> None:
        """Plan in the background under a lease, so that exactly one process plans each broadcast."""
        taken = await self._redis.set(self._lease_key(broadcast.id), self._worker, nx=True, px=PLAN_LEASE_MS)
        if not taken:
            return
        self._planning[broadcast.id] = asyncio.create_task(self._plan(broadcast))

    async def _plan(self, broadcast: Broadcast) -> None:
        try:
            added = await self._planner.plan(broadcast)
            log.info("broadcast %s planned: %d deliveries", broadcast.id, added)
        except (asyncio.CancelledError, PlanningCancelled):
            pass
        except Exception as exc:
            log.error("planning broadcast %s failed: %s", broadcast.id, type(exc).__name__)
        finally:
            self._planning.pop(broadcast.id, None)
            await self._redis.delete(self._lease_key(broadcast.id))

    def _lease_key(self, broadcast_id: str) -> str:
        return self._keys.broadcast_planner(broadcast_id)
