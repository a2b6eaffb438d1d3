"""The sender loop of one channel: claim a batch, take one limiter grant, send, settle.

Each step serves the most urgent broadcast that has work, so an alert overtakes news and digests
within one step. A batch is what one limiter grant can hold, which keeps steps short at 30/s and
Redis round trips few at 1,000/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

from redis.exceptions import RedisError

from broadcasts.channel import ChannelClient, Message
from broadcasts.limiter import Limiter, Rate
from broadcasts.model import Broadcast, State
from broadcasts.outcome import MAX_ATTEMPTS, SendError, SendProblem, SubscriberCare, backoff
from broadcasts.queue import Delivery, DeliveryQueue, Settlement, Survey
from broadcasts.store import BroadcastStore

log = logging.getLogger(__name__)

MAX_BATCH = 200
CONCURRENCY = 64  # sends in flight per sender
# Batches sent side by side; with the per-send semaphore this hides the platform's round trip time.
MAX_BATCHES_IN_FLIGHT = 16
IDLE_S = 0.1  # how often an idle sender looks for new work
MAX_WAITING = 2_000  # deliveries held for a retry in memory before claiming more
# A reserved send that would leave this much after its time is not sent late but granted again.
LATE_S = 0.05
# A reserved send that leaves more than this late (the event loop or the machine held it up) moves the
# rest of its batch, and the next grant, that much later: under a sliding window, sends that bunch up
# behind a late one would exceed the limit a second later. Less than this is within the margin's slack.
SHIFT_AFTER_S = 0.003
# A delivery refused because the platform throttles the sender as spam waits at least this long; the
# broadcast is paused meanwhile, and goes on when its author resumes it.
SPAM_RETRY_S = 60.0
# The daily figures are written at most this often while sending (and whenever a sender goes idle, a
# broadcast finishes, or the sender stops): a kill loses at most this much of them.
DAILY_FLUSH_S = 1.0

# Told when the platform asks for the whole broadcast to stop (broadcast id, problem).
Alarm = Callable[[str, SendProblem], Awaitable[None]]


@dataclass(order=True, slots=True)
class _Retry:
    due: float
    seq: int
    delivery: Delivery = field(compare=False)


class Sender:
    def __init__(
        self,
        *,
        queue: DeliveryQueue,
        client: ChannelClient,
        store: BroadcastStore,
        limiter: Limiter,
        care: SubscriberCare,
        hasher: Callable[[str], str],
        compose: Callable[[Broadcast, str], Message],
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = CONCURRENCY,
        batch: int = MAX_BATCH,
        tz: tzinfo = UTC,
        alarm: Alarm | None = None,
    ) -> None:
        self.queue = queue
        self._alarm = alarm
        self._client = client
        self._store = store
        self._limiter = limiter
        self._care = care
        self._hash = hasher
        self._compose = compose
        self._clock = clock
        self._sleep = sleep
        self._tz = tz  # the city's: daily figures count the city's days
        self._slots = asyncio.Semaphore(concurrency)
        # Half the slots per batch, so that the next batch goes out while this one awaits answers.
        self._batch = max(1, min(batch, concurrency // 2))
        self._inflight: set[asyncio.Task[None]] = set()
        self._retries: dict[str, list[_Retry]] = {}
        self._waiting: set[str] = set()  # entry ids in _retries
        # Entry ids marked and on their way in this process: still pending in Redis, so re-reading the
        # pending list (after a failure) must not take them up a second time.
        self._on_the_wire: set[str] = set()
        self._seq = itertools.count()
        self._resumed: set[str] = set()
        self._broadcasts: dict[str, Broadcast] = {}
        self._active: list[str] = []  # the active list as the last step saw it
        # The broadcast whose last claim came back full: the next step claims from it ahead.
        self._flowing: str | None = None
        self._messages: dict[tuple[str, str], Message] = {}
        self._random = random.Random()  # noqa: S311 (jitter, not secrecy)
        self._daily_flushed = 0.0  # the clock's epoch seconds at the last flush of the daily figures
        self._late = 0.0  # seconds the last batch's sends went out late, for the next grant to keep

    @property
    def channel(self) -> str:
        return self.queue.channel.value

    def recover(self) -> None:
        """After a failure half-way through a step, read every pending list again: what was claimed
        but not yet in a retry or on the wire is picked up from Redis, the truth."""
        self._resumed.clear()

    def resume_later(self, broadcast_id: str) -> None:
        """Deliveries were reclaimed for this worker; read its pending list again."""
        self._resumed.discard(broadcast_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then let in-flight sends settle and hand back what was not sent."""
        while not stop.is_set():
            try:
                wait = await self.step()
            except Exception as exc:  # a Redis hiccup must not end the sender
                log.error("sender %s step failed: %s", self.channel, type(exc).__name__)
                self.recover()
                wait = None
            if wait is None:
                # Nothing to do: look again soon. Idle polling is not part of any schedule.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=IDLE_S)
            elif wait > 0:
                await _until_either(self._sleep(wait), stop)
        await self.hand_back()

    async def step(self) -> float | None:
        """One batch of the most urgent broadcast that has deliveries ready. Returns how long to wait
        before the next step (what the limiter or a retry asks for), or None when there is nothing."""
        now = self._clock()
        if len(self._inflight) >= MAX_BATCHES_IN_FLIGHT:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 0.0
        ahead = self._claim_ahead(now.timestamp())
        survey = await self.queue.survey(self._active, ahead)
        unused = survey.claimed
        try:
            sending = await self._sending(survey)
            for broadcast in sending:
                if ahead is not None and broadcast.id == ahead[0]:
                    deliveries, unused = self._took(broadcast.id, survey.claimed, ahead[1]), []
                else:
                    deliveries = await self._ready(broadcast.id, now.timestamp())
                if deliveries:
                    return await self._grant_and_launch(broadcast, deliveries)
                await self._finish_if_drained(broadcast.id, now)
        finally:
            # The guess was wrong (a more urgent broadcast came first, or this one stopped): what was
            # claimed ahead waits for its broadcast's next turn in this process. A broadcast forgotten
            # meanwhile (ended, or to be read again) leaves them pending in Redis, the truth.
            if ahead is not None and ahead[0] in self._resumed:
                for delivery in unused:
                    self._retry_at(delivery, 0.0)
        if self._inflight:  # outcomes still to come may schedule retries
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 0.0
        await self._flush_daily(now.timestamp())
        return self._next_due([b.id for b in sending], now.timestamp())

    def _claim_ahead(self, now: float) -> tuple[str, int] | None:
        """What to claim in the step's first round trip: more of the broadcast that was flowing, unless
        retries of it are due first or too many wait already."""
        broadcast_id = self._flowing
        if broadcast_id is None or broadcast_id not in self._resumed or len(self._waiting) >= MAX_WAITING:
            return None
        retries = self._retries.get(broadcast_id)
        if retries and retries[0].due <= now + 1e-6:
            return None
        return broadcast_id, self._batch

    async def _grant_and_launch(self, broadcast: Broadcast, deliveries: list[Delivery]) -> float:
        """Take one grant for the batch and send what it holds, each reserved delivery on its time."""
        # Read now, not at the step's start: the reserved times count from here.
        now = self._clock().timestamp()
        grant = await self._limiter.acquire(now, [self._recipient(d) for d in deliveries], push=self._late)
        self._late = 0.0
        granted: list[tuple[Delivery, float]] = []
        for delivery, ok, delay in zip(deliveries, grant.granted, grant.delays, strict=True):
            if ok:
                granted.append((delivery, delay))
            else:
                self._retry_at(delivery, now + max(grant.wait, 0.001))
        if not granted:
            return grant.wait
        message = await self._message(broadcast, granted[0][0].language)
        if message.image_path and not message.image_ref:
            # Upload the image once, and wait for its id: everyone else gets the platform's id for it.
            for delivery, _ in granted[1:]:
                self._retry_at(delivery, 0.0)
            first = [granted[0][0]]
            await self._take_slots(1)
            await self.queue.mark_sending(broadcast.id, first)
            await self._send_batch(broadcast, first)
            return 0.0
        await self._take_slots(len(granted))
        # Marked before the wait, so that a send leaves on its reserved time without a round trip first.
        try:
            await self.queue.mark_sending(broadcast.id, [d for d, _ in granted])
        except BaseException:
            for _ in granted:
                self._slots.release()
            raise
        waited, due = 0.0, list[Delivery]()
        for index, (delivery, delay) in enumerate(granted):
            if delay > waited + 0.001:
                self._spawn(broadcast, due)
                # To the reserved time itself, so that the time each step takes never adds up.
                await self._sleep(max(0.0, now + self._late + delay - self._clock().timestamp()))
                waited, due = delay, []
                late = self._clock().timestamp() - (now + self._late + delay)
                if late > LATE_S:
                    await self._give_back(broadcast.id, [d for d, _ in granted[index:]])
                    return 0.0
                if late > SHIFT_AFTER_S:
                    self._late += late
            due.append(delivery)
        self._spawn(broadcast, due)
        return 0.0

    async def _give_back(self, broadcast_id: str, deliveries: list[Delivery]) -> None:
        """This process woke too late for its reserved times (the machine stalled it): sending now would
        bunch up with what the other processes send on time, so these wait for a new grant instead."""
        for delivery in deliveries:
            self._slots.release()
            self._retry_at(delivery, 0.0)
        await self.queue.settle(broadcast_id, [], unmark=deliveries)
        log.info("sender %s stalled; %d reserved sends wait for a new grant", self.channel, len(deliveries))

    async def _sending(self, survey: Survey) -> list[Broadcast]:
        """Broadcasts this channel serves now, most urgent first."""
        states = survey.states
        if new := [broadcast_id for broadcast_id in survey.active if broadcast_id not in states]:
            states = {**states, **dict(zip(new, await self._store.states(new), strict=True))}
        self._active = survey.active
        sending = []
        for broadcast_id in survey.active:
            state = states[broadcast_id]
            if state is State.SENDING and (broadcast := await self._broadcast(broadcast_id)):
                sending.append(broadcast)
            elif state is None or state in (State.CANCELLED, State.DONE):
                # Normally taken off by whoever ended it; this heals a list a crash left behind.
                await self._store.deactivate(broadcast_id, [self.queue.channel])
                self._forget(broadcast_id)
        return sending

    async def _broadcast(self, broadcast_id: str) -> Broadcast | None:
        if broadcast_id not in self._broadcasts:
            found = await self._store.get(broadcast_id)
            if found is None:
                return None
            self._broadcasts[broadcast_id] = found
        return self._broadcasts[broadcast_id]

    async def _ready(self, broadcast_id: str, now: float) -> list[Delivery]:
        if broadcast_id not in self._resumed:
            await self._resume(broadcast_id)
        ready: list[Delivery] = []
        retries = self._retries.get(broadcast_id, [])
        # Clocks tick in microseconds; a due time a hair ahead is due.
        while retries and retries[0].due <= now + 1e-6 and len(ready) < self._batch:
            delivery = heapq.heappop(retries).delivery
            self._waiting.discard(delivery.entry_id)
            ready.append(delivery)
        # New claims only while few wait for a retry: when every recipient is refused for now (a second
        # broadcast right after the first meets each chat's own limit), memory stays flat all the same.
        if len(ready) < self._batch and len(self._waiting) < MAX_WAITING:
            wanted = self._batch - len(ready)
            ready += self._took(broadcast_id, await self.queue.claim(broadcast_id, wanted), wanted)
        return ready

    def _took(self, broadcast_id: str, claimed: list[Delivery], wanted: int) -> list[Delivery]:
        """A full claim means more is queued: the next step claims from this broadcast ahead."""
        self._flowing = broadcast_id if len(claimed) == wanted else None
        return claimed

    async def _resume(self, broadcast_id: str) -> None:
        """Take up what this worker had claimed before: after a restart, or after reclaiming."""
        after = "0"
        while page := await self.queue.resume(broadcast_id, after, 1000):
            for delivery in page:
                if delivery.entry_id not in self._waiting and delivery.entry_id not in self._on_the_wire:
                    self._retry_at(delivery, 0.0)
            after = page[-1].entry_id
        self._resumed.add(broadcast_id)

    def _recipient(self, delivery: Delivery) -> tuple[str, Rate]:
        pacing = self._client.pacing
        rate = pacing.group_chat if self._client.is_group(delivery.chat_id) else pacing.private_chat
        return self._hash(f"{self.channel}:{delivery.chat_id}"), rate

    async def _take_slots(self, count: int) -> None:
        """One slot per send, all taken before the batch is marked "sending": so after a crash only
        sends that were on their way count as maybe duplicated. Only the step takes slots, one batch
        at a time, so two batches never hold part of the slots each and wait for the rest."""
        for _ in range(count):
            await self._slots.acquire()

    def _spawn(self, broadcast: Broadcast, deliveries: list[Delivery]) -> None:
        """Send in the background, so that the next grant does not wait for the platform's answers."""
        if deliveries:
            # Before the task runs, so that no step in between takes these up again from Redis.
            self._on_the_wire.update(d.entry_id for d in deliveries)
            task = asyncio.create_task(self._send_batch(broadcast, deliveries))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _send_batch(self, broadcast: Broadcast, deliveries: list[Delivery]) -> None:
        ids = [d.entry_id for d in deliveries]
        self._on_the_wire.update(ids)  # already there when spawned; the upload path comes straight here
        try:
            outcomes = await asyncio.gather(*(self._send_one(broadcast, d) for d in deliveries))
            settlements = [s for s in outcomes if isinstance(s, Settlement)]
            retried = [d for d, s in zip(deliveries, outcomes, strict=True) if s is None]
            now = self._clock()
            await self.queue.settle(
                broadcast.id, settlements, unmark=retried, day=now.astimezone(self._tz).date()
            )
        except RedisError as exc:
            # Sent but not acknowledged: still pending and marked, so they go again and are counted.
            log.error("sender %s could not settle a batch: %s", self.channel, type(exc).__name__)
            self.resume_later(broadcast.id)
            return
        finally:
            self._on_the_wire.difference_update(ids)
        if now.timestamp() - self._daily_flushed >= DAILY_FLUSH_S:
            await self._flush_daily(now.timestamp())

    async def _flush_daily(self, now: float) -> None:
        self._daily_flushed = now
        try:
            await self.queue.flush_daily()
        except RedisError as exc:  # kept, and written with the next flush
            log.error("sender %s could not write the daily figures: %s", self.channel, type(exc).__name__)

    async def _send_one(self, broadcast: Broadcast, delivery: Delivery) -> Settlement | None:
        """Send and decide: a Settlement when done with this delivery, None when it will be retried."""
        if delivery.text is not None:
            message = Message(delivery.text, kind="digest")
        else:
            message = self._messages.get((broadcast.id, delivery.language)) or await self._message(
                broadcast, delivery.language
            )
        try:
            image_ref = await self._client.send(delivery.chat_id, message)
        except SendError as error:
            return await self._after_refusal(delivery, error)
        finally:
            self._slots.release()
        if image_ref and message.image_path and not message.image_ref:
            for key, cached in list(self._messages.items()):
                if key[0] == broadcast.id:
                    self._messages[key] = replace(cached, image_ref=image_ref)
            await self._store.set_media(broadcast.id, self.queue.channel, image_ref)
        return Settlement(delivery, "sent")

    async def _after_refusal(self, delivery: Delivery, error: SendError) -> Settlement | None:
        now = self._clock()
        attempt = delivery.attempt + 1
        retry = replace(delivery, attempt=attempt)
        match error.problem:
            case SendProblem.RATE_LIMITED:
                # Only this chat waits what the platform asks; the rest of the batch carries on.
                self._retry_at(retry, now.timestamp() + (error.retry_after or 1.0))
                return None
            case SendProblem.UNAVAILABLE if attempt < MAX_ATTEMPTS:
                self._retry_at(retry, now.timestamp() + backoff(attempt, self._random.random()))
                return None
            case SendProblem.BLOCKED:
                await self._care.deactivate(self.queue.channel, delivery.chat_id, now)
                return Settlement(delivery, "blocked")
            case SendProblem.MIGRATED if error.migrate_to:
                await self._care.migrate(self.queue.channel, delivery.chat_id, error.migrate_to)
                self._retry_at(replace(retry, chat_id=error.migrate_to), 0.0)
                return None
            case SendProblem.CHAT_NOT_FOUND:
                retired = await self._care.record_missing(self.queue.channel, delivery.chat_id, now)
                return Settlement(delivery, "retired" if retired else "failed")
            case SendProblem.SUPPRESSED:
                return Settlement(delivery, "suppressed")
            case SendProblem.SPAM_LIMITED:
                self._retry_at(retry, now.timestamp() + SPAM_RETRY_S)
                if self._alarm is not None:
                    await self._alarm(delivery.broadcast_id, error.problem)
                return None
        log.warning("delivery on %s failed: %s", self.channel, error.problem.value)
        return Settlement(delivery, "failed")

    def _retry_at(self, delivery: Delivery, due: float) -> None:
        self._waiting.add(delivery.entry_id)
        heap = self._retries.setdefault(delivery.broadcast_id, [])
        heapq.heappush(heap, _Retry(due, next(self._seq), delivery))

    async def _message(self, broadcast: Broadcast, language: str) -> Message:
        key = (broadcast.id, language)
        if key not in self._messages:
            message = self._compose(broadcast, language)
            if message.image_path:
                message = replace(
                    message, image_ref=await self._store.media(broadcast.id, self.queue.channel)
                )
            self._messages[key] = message
        return self._messages[key]

    def _next_due(self, serving: list[str], now: float) -> float | None:
        """The wait until the first retry of a broadcast being served; a paused one's wait longer."""
        dues = [heap[0].due for broadcast_id in serving if (heap := self._retries.get(broadcast_id))]
        return max(0.001, min(dues) - now) if dues else None

    async def _finish_if_drained(self, broadcast_id: str, now: datetime) -> None:
        if self._retries.get(broadcast_id):
            return
        if await self.queue.remaining(broadcast_id) != 0:
            return
        # Written before the broadcast is done, so that whoever sees it done sees this process's share in
        # the figures (another process's share follows within DAILY_FLUSH_S).
        await self._flush_daily(now.timestamp())
        if await self._store.finish_channel(broadcast_id, self.queue.channel, now):
            self._forget(broadcast_id)

    def _forget(self, broadcast_id: str) -> None:
        for waiting in self._retries.pop(broadcast_id, []):
            self._waiting.discard(waiting.delivery.entry_id)
        self._broadcasts.pop(broadcast_id, None)
        self._resumed.discard(broadcast_id)
        if self._flowing == broadcast_id:
            self._flowing = None
        for key in [k for k in self._messages if k[0] == broadcast_id]:
            del self._messages[key]

    async def hand_back(self) -> None:
        """On shutdown: in-flight sends settle, deliveries waiting for a retry go back to the queue."""
        if self._inflight:
            await asyncio.wait(self._inflight)
        await self._flush_daily(self._clock().timestamp())
        for broadcast_id, heap in list(self._retries.items()):
            await self.queue.release(broadcast_id, [r.delivery for r in heap])
        self._retries.clear()
        self._waiting.clear()


async def _until_either(sleep: Awaitable[None], stop: asyncio.Event) -> None:
    """Wait for `sleep` (injected, so tests run in virtual time) unless `stop` comes first."""
    sleeping = asyncio.ensure_future(sleep)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeping, stopping):
        task.cancel()
