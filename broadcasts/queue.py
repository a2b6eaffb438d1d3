"""The durable delivery queue: one Redis stream per broadcast and channel, shared by a consumer group.

A delivery is claimed by reading it into a sender's pending list, marked "sending" right before the
platform is called, and acknowledged and deleted once its outcome is known. A sender that dies leaves
its claimed deliveries pending; they are resumed by a restart under the same worker name, or
reclaimed by a live sender once the dead one's heartbeat is old. Those still marked "sending" may
have reached the resident: they are sent again (nothing is lost) and counted as maybe duplicated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel
from redis.exceptions import ResponseError

from broadcasts.active import ActiveLists
from broadcasts.model import Priority, State
from broadcasts.queue_scripts import (
    CHAT_FIELD,
    KIND_FIELD,
    LANGUAGE_FIELD,
    MARK,
    RELEASE,
    REPLY_FIELD,
    SETTLE,
    STEP_FIELD,
    TEXT_FIELD,
)
from broadcasts.store import STATE_FIELD

# A correction's or retraction's steps (Delivery.step): where the messenger can edit, the message is
# changed in place, then a short note replies to it; elsewhere one follow-up quotes it.
EDIT, NOTE, QUOTE = "e", "n", "q"
# The consumer group every sender of a channel reads a delivery stream in.
GROUP = "senders"

# Aggregate daily counters are kept a little over a year (as city/residents.py keeps its own).
DAILY_STATS_TTL_S = 400 * 24 * 3600
# How many of the broadcasts with work a sender looks at, most urgent first.
ACTIVE_LIMIT = 32
# A sender whose heartbeat is older than this is presumed dead and its pending deliveries reclaimed.
DEAD_AFTER_S = 15.0


@dataclass(frozen=True, slots=True)
class Delivery:
    broadcast_id: str
    entry_id: str
    chat_id: str
    language: str  # "" for German, "en" for English
    maybe_sent: bool = False  # claimed from a dead sender while marked "sending"
    attempt: int = 0  # failed tries so far in this process (429s, 5xx)
    text: str | None = None  # a text of its own (a resident's digest) instead of the broadcast's
    kind: str | None = None  # the kind of a text of its own, when it is not a digest
    # A follow-up's: the reference of what the recipient got from the broadcast followed (a reply to it).
    reply_to: str | None = None
    # A correction's or retraction's step (EDIT, NOTE, QUOTE); "" a follow-up that replies with its text.
    step: str = ""


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one send came to, for the counters: sent, failed, blocked or retired."""

    delivery: Delivery
    outcome: str
    # The platform's reference of what was sent, kept for corrections (broadcasts/message_ids.py).
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Survey:
    """What a sender learns in one round trip before a step."""

    active: list[str]  # broadcast ids with deliveries on this channel, most urgent first
    states: dict[str, State | None]  # of the broadcasts asked about; None: gone
    claimed: list[Delivery]  # new deliveries claimed ahead from the broadcast named, if any


class DeliveryQueue:
    def __init__(self, redis: RedisClient, keys: Keys, channel: Channel, worker: str) -> None:
        self._redis = redis
        self._settle = redis.register_script(SETTLE)
        self._mark = redis.register_script(MARK)
        self._release = redis.register_script(RELEASE)
        self._keys = keys
        self._active = ActiveLists(redis, keys)
        self.channel = channel
        self.worker = worker
        # The city's daily figures counted by settled batches and not yet written: see flush_daily.
        self._daily: Counter[tuple[date, str]] = Counter()

    async def active(self, limit: int = ACTIVE_LIMIT) -> list[str]:
        """Broadcast ids with deliveries on this channel, most urgent first."""
        return await self._active.ids(self.channel, limit)

    async def survey(self, states_of: Sequence[str], claim: tuple[str, int] | None = None) -> Survey:
        """The active list, the states of `states_of`, and `claim` = (broadcast id, count) new
        deliveries, all in one round trip: the claim is made ahead, on the sender's guess that the
        broadcast it served last is still the one to serve. Claimed deliveries it does not send at
        once are pending for this worker like any other, so a wrong guess costs nothing but order."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self._active.read_in(pipe, self.channel, ACTIVE_LIMIT)
            for broadcast_id in states_of:
                pipe.hget(self._keys.broadcast(broadcast_id), STATE_FIELD)
            if claim is not None:
                stream = self._keys.broadcast_queue(claim[0], self.channel)
                pipe.xreadgroup(GROUP, self.worker, {stream: ">"}, count=claim[1])
            answers = await pipe.execute(raise_on_error=False)
        for answer in answers:
            if isinstance(answer, Exception) and not _cancelled(answer):
                raise answer
        return Survey(
            active=self._active.ids_from(answers[0]),
            states={
                broadcast_id: State(value) if value else None
                for broadcast_id, value in zip(states_of, answers[1 : 1 + len(states_of)], strict=True)
            },
            claimed=self._new(claim[0], answers[-1]) if claim is not None else [],
        )

    async def claim(self, broadcast_id: str, count: int) -> list[Delivery]:
        """New deliveries for this worker."""
        return await self._read(broadcast_id, ">", count)

    async def resume(self, broadcast_id: str, after: str, count: int) -> list[Delivery]:
        """Deliveries this worker claimed before (a restart under the same name, or reclaimed ones)."""
        return await self._read(broadcast_id, after, count)

    async def _read(self, broadcast_id: str, start: str, count: int) -> list[Delivery]:
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        try:
            answer = await self._redis.xreadgroup(GROUP, self.worker, {stream: start}, count=count)
        except ResponseError as exc:
            if _cancelled(exc):
                return []
            raise
        if start != ">":
            return await self._with_marks(broadcast_id, _entries(answer))
        return self._new(broadcast_id, answer)

    @staticmethod
    def _new(broadcast_id: str, answer: Any) -> list[Delivery]:
        """Deliveries from an XREADGROUP answer for new entries: none of them can be marked yet."""
        if isinstance(answer, ResponseError):  # cancelled meanwhile
            return []
        return [
            Delivery(
                broadcast_id,
                entry_id,
                f[CHAT_FIELD],
                f.get(LANGUAGE_FIELD, ""),
                text=f.get(TEXT_FIELD),
                kind=f.get(KIND_FIELD),
                reply_to=f.get(REPLY_FIELD),
                step=f.get(STEP_FIELD, ""),
            )
            for entry_id, f in _entries(answer)
            if f
        ]

    async def _with_marks(
        self, broadcast_id: str, entries: Sequence[tuple[str, dict[str, str] | None]]
    ) -> list[Delivery]:
        live = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not live:
            return []
        sending = self._keys.broadcast_sending(broadcast_id, self.channel)
        marks = await self._redis.smismember(sending, [entry_id for entry_id, _ in live])
        return [
            Delivery(
                broadcast_id,
                entry_id,
                fields[CHAT_FIELD],
                fields.get(LANGUAGE_FIELD, ""),
                maybe_sent=bool(mark),
                text=fields.get(TEXT_FIELD),
                kind=fields.get(KIND_FIELD),
                reply_to=fields.get(REPLY_FIELD),
                step=fields.get(STEP_FIELD, ""),
            )
            for (entry_id, fields), mark in zip(live, marks, strict=True)
        ]

    async def mark_sending(self, broadcast_id: str, deliveries: Sequence[Delivery]) -> set[str]:
        """Mark deliveries as on their way; returns the entry ids that are gone meanwhile (erased or
        cancelled), which must not be sent."""
        gone = await self._marks("SADD", broadcast_id, deliveries)
        return {entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id) for entry_id in gone}

    async def _marks(self, command: str, broadcast_id: str, deliveries: Sequence[Delivery]) -> list[Any]:
        ids = " ".join([d.entry_id for d in deliveries])
        keys = [
            self._keys.broadcast_sending(broadcast_id, self.channel),
            self._keys.broadcast_queue(broadcast_id, self.channel),
        ]
        return cast(list[Any], await self._mark(keys=keys, args=[command, ids, GROUP]))

    async def settle(
        self,
        broadcast_id: str,
        settlements: Sequence[Settlement],
        unmark: Sequence[Delivery] = (),
        *,
        day: date | None = None,
        now: float = 0.0,
    ) -> None:
        """Acknowledge and forget finished deliveries and count their outcomes, in one round trip; the
        daily figures for `day` wait for `flush_daily`.

        `unmark` are deliveries whose send was refused (429, 5xx) and will be retried: not sent, so not
        "maybe sent" if this process dies before the retry. `now` (epoch seconds) counts the time left to
        keep the message references of the settled sends.
        """
        if unmark:
            await self._marks("SREM", broadcast_id, unmark)
        if not settlements:
            return
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        progress = self._keys.broadcast_progress(broadcast_id)
        sending = self._keys.broadcast_sending(broadcast_id, self.channel)
        entries = " ".join(
            [
                f"{s.delivery.entry_id} {s.outcome} {'1' if s.delivery.maybe_sent else '0'}"
                for s in settlements
            ]
        )
        refs = " ".join(
            [
                f"{s.delivery.entry_id} {s.delivery.chat_id} {s.ref}"
                for s in settlements
                if s.ref and s.outcome == "sent"
            ]
        )
        ids = self._keys.broadcast_message_ids(broadcast_id, self.channel)
        args = [GROUP, self.channel.value, entries, refs, repr(now)]
        added = cast(list[Any], await self._settle(keys=[stream, sending, progress, ids], args=args))
        if day is not None:
            for field, count in zip(added[::2], added[1::2], strict=True):
                self._daily[day, field.decode() if isinstance(field, bytes) else field] += int(count)

    async def flush_daily(self) -> None:
        """Write the daily figures (for /statistik) that settled batches counted since the last flush.

        They live outside the broadcast's hash slot, so they cannot join the settle script; written once
        for many batches, they cost a round trip a second instead of one per batch. A process killed
        in between loses them (at most what the sender counted since its last flush, see Sender); the
        broadcast's own counters are exact regardless.
        """
        if not self._daily:
            return
        pending, self._daily = self._daily, Counter()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (day, field), count in pending.items():
                    pipe.hincrby(self._keys.daily_stats(day), field, count)
                for day in {day for day, _ in pending}:
                    pipe.expire(self._keys.daily_stats(day), DAILY_STATS_TTL_S)
                await pipe.execute()
        except BaseException:
            self._daily.update(pending)  # written with the next flush instead
            raise

    async def release(self, broadcast_id: str, deliveries: Iterable[Delivery]) -> None:
        """Give claimed but unsent deliveries back to the queue (a clean shutdown), as new entries."""
        args: list[str] = [GROUP]
        for delivery in deliveries:
            has_text = delivery.text is not None
            args += [delivery.entry_id, delivery.chat_id, delivery.language, "1" if has_text else "0"]
            args += [delivery.text or "", delivery.kind or "", delivery.reply_to or "", delivery.step]
        if len(args) > 1:
            await self._release(keys=[self._keys.broadcast_queue(broadcast_id, self.channel)], args=args)

    async def remaining(self, broadcast_id: str) -> int:
        """Deliveries not yet settled (queued or claimed)."""
        return int(await self._redis.xlen(self._keys.broadcast_queue(broadcast_id, self.channel)))

    async def heartbeat(self, now: float) -> None:
        await self._redis.hset(self._keys.workers(self.channel), self.worker, repr(now))

    async def forget_worker(self) -> None:
        await self._redis.hdel(self._keys.workers(self.channel), self.worker)

    async def dead_workers(self, now: float) -> set[str]:
        """Senders on this channel whose heartbeat is older than DEAD_AFTER_S."""
        beats = cast(dict[str, str], await self._redis.hgetall(self._keys.workers(self.channel)))
        return {
            name for name, seen in beats.items() if name != self.worker and now - float(seen) > DEAD_AFTER_S
        }

    async def reclaim(self, broadcast_id: str, dead: set[str]) -> int:
        """Take over the pending deliveries of dead senders; `resume` then reads them with their marks."""
        stream = self._keys.broadcast_queue(broadcast_id, self.channel)
        try:
            consumers: list[dict[str, Any]] = await self._redis.xinfo_consumers(stream, GROUP)
        except ResponseError:  # no such stream or group: cancelled or finished meanwhile
            return 0
        taken = 0
        for consumer in consumers:
            name = str(consumer["name"])
            if name not in dead:
                continue
            while pending := await self._redis.xpending_range(
                stream, GROUP, "-", "+", 1000, consumername=name
            ):
                ids: list[Any] = [p["message_id"] for p in pending]
                await self._redis.xclaim(stream, GROUP, self.worker, 0, ids, justid=True)
                taken += len(ids)
            await self._redis.xgroup_delconsumer(stream, GROUP, name)
        return taken

    async def bury(self, dead: set[str]) -> None:
        """Forget the heartbeats of dead senders once their work has been reclaimed everywhere."""
        if dead:
            await self._redis.hdel(self._keys.workers(self.channel), *dead)


async def depth(redis: RedisClient, keys: Keys, channel: Channel) -> dict[Priority, int]:
    """Deliveries waiting on a channel (queued or claimed, not yet settled), by priority: for metrics."""
    waiting = dict.fromkeys(Priority, 0)
    for listed in await ActiveLists(redis, keys).listed(channel):
        waiting[listed.priority] += int(await redis.xlen(keys.broadcast_queue(listed.broadcast_id, channel)))
    return waiting


async def open_stream(redis: RedisClient, keys: Keys, broadcast_id: str, channel: Channel) -> None:
    """Create a broadcast's delivery stream on one channel with its consumer group, before anything is
    queued; a second call (another process, or a restart) finds them and leaves them be."""
    try:
        await redis.xgroup_create(keys.broadcast_queue(broadcast_id, channel), GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _entries(answer: Any) -> list[tuple[str, dict[str, str] | None]]:
    """RESP2 answers [[stream, [(id, fields), ...]]]; deleted entries come back with no fields."""
    return cast(list[tuple[str, dict[str, str] | None]], answer[0][1]) if answer else []


def _cancelled(error: Exception) -> bool:
    """Reading a stream that a cancel deleted (with its group) finds no group."""
    return isinstance(error, ResponseError) and "NOGROUP" in str(error)
