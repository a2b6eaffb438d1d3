"""The sender loop of one channel: claim a batch, take one limiter grant, hand it to the courier.

Each step serves the most urgent broadcast that has work, so an alert overtakes news and digests
within one step. A batch is what one limiter grant can hold, which keeps steps short at 30/s and
Redis round trips few at 1,000/s. What each send comes to, and settling the batch, is the courier's
(broadcasts/courier.py); what waits for another try is held in Retries (broadcasts/retries.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo

from broadcasts.channel import ChannelClient, Message
from broadcasts.courier import Courier
from broadcasts.limiter import LATE_S, SHIFT_AFTER_S, Lane, Limiter, Rate
from broadcasts.model import Broadcast, InvalidTransition, Priority, State
from broadcasts.outcome import SubscriberCare
from broadcasts.queue import Delivery, DeliveryQueue, Survey
from broadcasts.retries import Retries
from broadcasts.spam_limit import SpamLimit
from broadcasts.store import BroadcastStore

log = logging.getLogger(__name__)

MAX_BATCH = 200
CONCURRENCY = 64  # sends in flight per sender
# Batches sent side by side; with the per-send semaphore this hides the platform's round trip time.
MAX_BATCHES_IN_FLIGHT = 16
IDLE_S = 0.1  # how often an idle sender looks for new work
MAX_WAITING = 2_000  # deliveries held for a retry in memory before claiming more
# Each broadcast's lane in the shared limiter: alerts before news before digests.
LANES = {Priority.ALERT: Lane.ALERT, Priority.NEWS: Lane.NEWS, Priority.DIGEST: Lane.DIGEST}


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
        spam: SpamLimit,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = CONCURRENCY,
        batch: int = MAX_BATCH,
        tz: tzinfo = UTC,
    ) -> None:
        self.queue = queue
        self._client = client
        self._store = store
        self._limiter = limiter
        self._hash = hasher
        self._clock = clock
        self._sleep = sleep
        self._retries = Retries()
        self._courier = Courier(
            queue=queue,
            client=client,
            store=store,
            care=care,
            compose=compose,
            clock=clock,
            retries=self._retries,
            spam=spam,
            concurrency=concurrency,
            tz=tz,
        )
        # Half the slots per batch, so that the next batch goes out while this one awaits answers.
        self._batch = max(1, min(batch, concurrency // 2))
        self._inflight: set[asyncio.Task[None]] = set()
        self._resumed: set[str] = set()
        self._broadcasts: dict[str, Broadcast] = {}
        self._active: list[str] = []  # the active list as the last step saw it
        # The broadcast whose last claim came back full: the next step claims from it ahead.
        self._flowing: str | None = None
        self._late = 0.0  # seconds the last batch's sends went out late, for the next grant to keep

    @property
    def channel(self) -> str:
        return self.queue.channel.value

    def recover(self) -> None:
        """After a failure half-way through a step, read every pending list again: what was claimed
        but is neither waiting here nor on the wire (a claim whose answer was lost) is picked up from
        Redis, the truth."""
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
                    self._retries.add(delivery, 0.0)
        if self._inflight:  # outcomes still to come may schedule retries
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 0.0
        await self._courier.flush_daily(now.timestamp())
        return self._next_due([b.id for b in sending], now.timestamp())

    def _claim_ahead(self, now: float) -> tuple[str, int] | None:
        """What to claim in the step's first round trip: more of the broadcast that was flowing, unless
        retries of it are due first or too many wait already."""
        broadcast_id = self._flowing
        if broadcast_id is None or broadcast_id not in self._resumed or len(self._retries) >= MAX_WAITING:
            return None
        if self._retries.is_due(broadcast_id, now):
            return None
        return broadcast_id, self._batch

    async def _grant_and_launch(self, broadcast: Broadcast, deliveries: list[Delivery]) -> float:
        """Take one grant for the batch and send what it holds, each reserved delivery on its time."""
        # Read now, not at the step's start: the reserved times count from here.
        now = self._clock().timestamp()
        try:
            granted, wait = await self._grant(now, deliveries, LANES[broadcast.priority])
            if not granted:
                return wait
            message = await self._courier.message(broadcast, granted[0][0].language)
            upload = bool(message.image and not message.image_ref)
            if upload:
                # Upload the image once, and wait for its id: everyone else gets the platform's id for it.
                for delivery, _ in granted[1:]:
                    self._retries.add(delivery, 0.0)
                granted = granted[:1]
            await self._courier.take_slots(len(granted))
            # Marked before the wait, so that a send leaves on its reserved time without a round trip first.
            try:
                gone = await self.queue.mark_sending(broadcast.id, [d for d, _ in granted])
            except BaseException:
                self._courier.release_slots(len(granted))
                raise
        except BaseException:
            self._keep(deliveries)
            raise
        if gone:
            # Erased (or cancelled) while claimed or waiting for a retry here: never sent.
            self._courier.release_slots(len(gone))
            granted = [(delivery, delay) for delivery, delay in granted if delivery.entry_id not in gone]
        if upload:
            if granted:
                await self._send_batch(broadcast, [granted[0][0]])
            return 0.0
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

    async def _grant(
        self, now: float, deliveries: list[Delivery], lane: Lane
    ) -> tuple[list[tuple[Delivery, float]], float]:
        """The deliveries one limiter grant holds, each with its delay, and the wait the limiter asks for;
        the rest wait for a retry."""
        recipients = [self._recipient(d) for d in deliveries]
        grant = await self._limiter.acquire(now, recipients, lane=lane, push=self._late)
        self._late = 0.0
        granted: list[tuple[Delivery, float]] = []
        for delivery, ok, delay in zip(deliveries, grant.granted, grant.delays, strict=True):
            if ok:
                granted.append((delivery, delay))
            else:
                self._retries.add(delivery, now + max(grant.wait, 0.001))
        return granted, grant.wait

    def _keep(self, deliveries: list[Delivery]) -> None:
        """A step failed before these went out: they wait here for their next turn, as this process knows
        them. Read again from Redis instead, they could come back marked "sending" (by a command that ran
        though its answer was lost) and be counted as maybe sent twice."""
        for delivery in deliveries:
            if delivery.entry_id not in self._retries:
                self._retries.add(delivery, 0.0)

    async def _give_back(self, broadcast_id: str, deliveries: list[Delivery]) -> None:
        """This process woke too late for its reserved times (the machine stalled it): sending now would
        bunch up with what the other processes send on time, so these wait for a new grant instead."""
        self._courier.release_slots(len(deliveries))
        for delivery in deliveries:
            self._retries.add(delivery, 0.0)
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
            if not found.bound:
                # Every way here moves only the approved version; this is the last line all the same.
                log.error("broadcast %s is not the approved version; paused, nothing sent", broadcast_id)
                with contextlib.suppress(InvalidTransition):
                    await self._store.transition(broadcast_id, State.PAUSED, fields={"approver_paused": "1"})
                return None
            self._broadcasts[broadcast_id] = found
        return self._broadcasts[broadcast_id]

    async def _ready(self, broadcast_id: str, now: float) -> list[Delivery]:
        if broadcast_id not in self._resumed:
            await self._resume(broadcast_id)
        ready = self._retries.take_due(broadcast_id, now, self._batch)
        # New claims only while few wait for a retry: when every recipient is refused for now (a second
        # broadcast right after the first meets each chat's own limit), memory stays flat all the same.
        if len(ready) < self._batch and len(self._retries) < MAX_WAITING:
            wanted = self._batch - len(ready)
            try:
                claimed = await self.queue.claim(broadcast_id, wanted)
            except BaseException:
                self._keep(ready)
                raise
            ready += self._took(broadcast_id, claimed, wanted)
        return ready

    def _took(self, broadcast_id: str, claimed: list[Delivery], wanted: int) -> list[Delivery]:
        """A full claim means more is queued: the next step claims from this broadcast ahead."""
        self._flowing = broadcast_id if len(claimed) == wanted else None
        return claimed

    async def _resume(self, broadcast_id: str) -> None:
        """Take up what this worker had claimed before: after a restart, after reclaiming, or after a
        batch could not be settled."""
        # Read from now on: a reclaim or a failed settle while the list is read asks for another
        # reading, which the end of this one must not undo (what lands behind the cursor would wait
        # for ever).
        self._resumed.add(broadcast_id)
        try:
            after = "0"
            while True:
                # What is on its way as the page is read. The page still lists a delivery whose batch
                # settles before the page comes back: taken up, it would go out a second time, counted
                # nowhere. One whose settle fails instead asks for another reading.
                on_the_wire = self._courier.on_the_wire()
                page = await self.queue.resume(broadcast_id, after, 1000)
                if not page:
                    break
                for delivery in page:
                    if delivery.entry_id not in on_the_wire and delivery.entry_id not in self._retries:
                        self._retries.add(delivery, 0.0)
                after = page[-1].entry_id
        except BaseException:
            self._resumed.discard(broadcast_id)
            raise

    def _recipient(self, delivery: Delivery) -> tuple[str, Rate]:
        pacing = self._client.pacing
        rate = pacing.group_chat if self._client.is_group(delivery.chat_id) else pacing.private_chat
        return self._hash(f"{self.channel}:{delivery.chat_id}"), rate

    def _spawn(self, broadcast: Broadcast, deliveries: list[Delivery]) -> None:
        """Send in the background, so that the next grant does not wait for the platform's answers."""
        if deliveries:
            self._courier.board(deliveries)
            task = asyncio.create_task(self._send_batch(broadcast, deliveries))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _send_batch(self, broadcast: Broadcast, deliveries: list[Delivery]) -> None:
        if not await self._courier.send_batch(broadcast, deliveries):
            # Sent but not acknowledged: still pending and marked, so they go again and are counted.
            self.resume_later(broadcast.id)

    def _next_due(self, serving: list[str], now: float) -> float | None:
        """The wait until the first retry of a broadcast being served; a paused one's wait longer."""
        dues = [due for broadcast_id in serving if (due := self._retries.next_due(broadcast_id)) is not None]
        return max(0.001, min(dues) - now) if dues else None

    async def _finish_if_drained(self, broadcast_id: str, now: datetime) -> None:
        if self._retries.next_due(broadcast_id) is not None:
            return
        if await self.queue.remaining(broadcast_id) != 0:
            return
        # Written before the broadcast is done, so that whoever sees it done sees this process's share in
        # the figures (another process's share follows within DAILY_FLUSH_S).
        await self._courier.flush_daily(now.timestamp())
        if await self._store.finish_channel(broadcast_id, self.queue.channel, now):
            self._forget(broadcast_id)

    def _forget(self, broadcast_id: str) -> None:
        self._retries.forget(broadcast_id)
        self._broadcasts.pop(broadcast_id, None)
        self._resumed.discard(broadcast_id)
        if self._flowing == broadcast_id:
            self._flowing = None
        self._courier.forget(broadcast_id)

    async def hand_back(self) -> None:
        """On shutdown: in-flight sends settle, deliveries waiting for a retry go back to the queue."""
        if self._inflight:
            await asyncio.wait(self._inflight)
        await self._courier.flush_daily(self._clock().timestamp())
        for broadcast_id, deliveries in self._retries.take_all().items():
            await self.queue.release(broadcast_id, deliveries)


async def _until_either(sleep: Awaitable[None], stop: asyncio.Event) -> None:
    """Wait for `sleep` (injected, so tests run in virtual time) unless `stop` comes first."""
    sleeping = asyncio.ensure_future(sleep)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeping, stopping):
        task.cancel()
