"""Broadcasts and their progress in Redis, with state changes that are atomic across processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import redis.asyncio as aioredis
from city.keys import Keys
from city.values import Channel

from broadcasts.active import ActiveLists
from broadcasts.model import TRANSITIONS, Broadcast, Hold, InvalidTransition, Priority, State

# The field of a broadcast's hash that holds its state (DeliveryQueue.survey reads it too).
STATE_FIELD = "state"

# Moves the state only if it is one of the allowed sources, setting the given fields with it; answers
# the state found. ARGV: target state, number of field pairs, the pairs, then the allowed sources.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return false end
local pairs_end = 2 + 2 * tonumber(ARGV[2])
for i = pairs_end + 1, #ARGV do
  if ARGV[i] == current then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    for j = 3, pairs_end, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end
    return current
  end
end
return current
"""

_CREATE_NAMED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# A compare-and-set of a scheduled broadcast's time. ARGV: the time expected, the new time.
_RESCHEDULE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'scheduled' then return 0 end
if redis.call('HGET', KEYS[1], 'scheduled_for') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'scheduled_for', ARGV[2])
return 1
"""

# A draft made from a feed becomes the draft of the staff member who takes it up, exactly once.
# ARGV: the author expected (the feed), the new author.
_ADOPT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'draft' then return 0 end
if redis.call('HGET', KEYS[1], 'author') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'author', ARGV[2])
return 1
"""


class Reported(StrEnum):
    """What a platform reports about a send later (WhatsApp statuses): counted in aggregate only."""

    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"


COUNTERS = (
    "total",
    "sent",
    "failed",
    "blocked",
    "retired",
    "maybe_duplicate",
    "suppressed",
    *Reported,
)


@dataclass(frozen=True, slots=True)
class ChannelProgress:
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retired: int = 0
    maybe_duplicate: int = 0
    suppressed: int = 0
    delivered: int = 0
    read: int = 0
    undelivered: int = 0

    @property
    def settled(self) -> int:
        return self.sent + self.failed + self.blocked + self.retired + self.suppressed


@dataclass(frozen=True, slots=True)
class Progress:
    broadcast_id: str
    state: State
    planned: bool
    channels: dict[Channel, ChannelProgress] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(c.total for c in self.channels.values())

    @property
    def settled(self) -> int:
        return sum(c.settled for c in self.channels.values())

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    def rate(self, now: datetime) -> float:
        """Deliveries per second so far."""
        end = self.finished_at or now
        if self.started_at is None or end <= self.started_at:
            return 0.0
        return self.settled / (end - self.started_at).total_seconds()

    def eta_seconds(self, limits: Mapping[Channel, float]) -> float:
        """Time left at each channel's platform limit; channels send side by side."""
        left = [
            (c.total - c.settled) / limits[channel]
            for channel, c in self.channels.items()
            if channel in limits and limits[channel] > 0
        ]
        return max(left, default=0.0)


class BroadcastStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._transition = redis.register_script(_TRANSITION)
        self._create_named = redis.register_script(_CREATE_NAMED)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._adopt = redis.register_script(_ADOPT)
        self.active = ActiveLists(redis, keys)

    async def create(self, draft: Broadcast) -> Broadcast:
        """Store a new broadcast under the next short id (staff type it: /freigeben 42)."""
        number = await self._redis.incr(self._keys.broadcast_sequence())
        stored = Broadcast(**{**_fields(draft), "id": str(number)})
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.broadcast(stored.id), mapping=_mapping(_encode(stored)))
            pipe.zadd(self._keys.broadcast_index(), {stored.id: stored.created_at.timestamp()})
            await pipe.execute()
        return stored

    async def create_named(self, broadcast: Broadcast) -> bool:
        """Store a broadcast under an id derived from what it is (a digest's day, a repeat's date), once:
        False when it exists already. Several processes may try; exactly one creates it."""
        fields = _encode(broadcast)
        created = await self._create_named(
            keys=[self._keys.broadcast(broadcast.id)], args=[x for pair in fields.items() for x in pair]
        )
        if created:
            await self._redis.zadd(
                self._keys.broadcast_index(), {broadcast.id: broadcast.created_at.timestamp()}
            )
        return bool(created)

    async def get(self, broadcast_id: str) -> Broadcast | None:
        fields = await self._redis.hgetall(self._keys.broadcast(broadcast_id))
        return _decode(broadcast_id, cast(dict[str, str], fields)) if fields else None

    async def recent(self, limit: int) -> list[Broadcast]:
        """The newest broadcasts, newest first."""
        ids = await self._redis.zrevrange(self._keys.broadcast_index(), 0, limit - 1)
        found = [await self.get(str(broadcast_id)) for broadcast_id in ids]
        return [broadcast for broadcast in found if broadcast is not None]

    async def adopt(self, broadcast_id: str, author: str, by: str) -> bool:
        """`by` becomes the author of a draft still by `author`; False when it is not (any more)."""
        key = self._keys.broadcast(broadcast_id)
        return bool(await self._adopt(keys=[key], args=[author, by]))

    async def save(self, broadcast: Broadcast) -> None:
        """Overwrite the content of a broadcast (an edit); the state moves only through `transition`."""
        fields = _encode(broadcast)
        fields.pop("state")
        await self._redis.hset(self._keys.broadcast(broadcast.id), mapping=_mapping(fields))

    async def transition(
        self,
        broadcast_id: str,
        to: State,
        *,
        expect: State | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> State:
        """Move to `to` if the current state allows it (and is `expect`, when given), setting `fields`
        in the same step; returns the previous state."""
        sources = [state.value for state, targets in TRANSITIONS.items() if to in targets]
        if expect is not None:
            sources = [s for s in sources if s == expect.value]
        pairs = [x for pair in (fields or {}).items() for x in pair]
        found = await self._transition(
            keys=[self._keys.broadcast(broadcast_id)], args=[to.value, len(pairs) // 2, *pairs, *sources]
        )
        if found is None:
            raise KeyError(broadcast_id)
        previous = State(found.decode() if isinstance(found, bytes) else found)
        if previous.value not in sources:
            raise InvalidTransition(previous, to)
        return previous

    async def reschedule(self, broadcast_id: str, due: datetime, following: datetime) -> bool:
        """Move a scheduled broadcast from `due` to `following`; False when it is no longer at `due`."""
        moved = await self._reschedule(
            keys=[self._keys.broadcast(broadcast_id)], args=[due.isoformat(), following.isoformat()]
        )
        return bool(moved)

    async def states(self, broadcast_ids: Sequence[str]) -> list[State | None]:
        """The states of several broadcasts in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for broadcast_id in broadcast_ids:
                pipe.hget(self._keys.broadcast(broadcast_id), STATE_FIELD)
            found = await pipe.execute()
        return [State(str(value)) if value else None for value in found]

    async def state(self, broadcast_id: str) -> State | None:
        value = await self._redis.hget(self._keys.broadcast(broadcast_id), STATE_FIELD)
        return State(str(value)) if value else None

    async def media(self, broadcast_id: str, channel: Channel) -> str | None:
        value = await self._redis.hget(self._keys.broadcast_media(broadcast_id), channel.value)
        return str(value) if value else None

    async def set_media(self, broadcast_id: str, channel: Channel, reference: str) -> None:
        await self._redis.hset(self._keys.broadcast_media(broadcast_id), channel.value, reference)

    async def activate(self, broadcast: Broadcast, channels: Sequence[Channel], now: datetime) -> None:
        """Offer the broadcast to the senders of each channel, alerts first, then oldest first."""
        await self._redis.hsetnx(self._keys.broadcast_progress(broadcast.id), "started_at", now.isoformat())
        await self.active.add(broadcast, channels)

    async def deactivate(self, broadcast_id: str, channels: Sequence[Channel]) -> None:
        await self.active.remove(broadcast_id, channels)

    async def finish_channel(self, broadcast_id: str, channel: Channel, now: datetime) -> bool:
        """A channel's queue ran dry: once planning is complete, retire it, and finish the broadcast with
        its last channel. True when this channel is no longer active for the broadcast."""
        if await self._redis.hget(self._keys.broadcast_progress(broadcast_id), "planned") != "1":
            return False
        await self.active.remove(broadcast_id, [channel])
        if await self.active.anywhere(broadcast_id):
            return True
        try:
            await self.transition(broadcast_id, State.DONE)
        except InvalidTransition:
            return True  # another sender finished it first, or it was cancelled
        await self._redis.hset(self._keys.broadcast_progress(broadcast_id), "finished_at", now.isoformat())
        return True

    async def count_reported(self, broadcast_id: str, channel: Channel, reported: Reported) -> bool:
        """Count one status the platform reported later about a send of the broadcast; False, and nothing
        counted, when there is no such broadcast (a status may name any tag, or come after a purge)."""
        if await self.state(broadcast_id) is None:
            return False
        await self._redis.hincrby(
            self._keys.broadcast_progress(broadcast_id), f"{reported}:{channel.value}", 1
        )
        return True

    async def progress(self, broadcast_id: str) -> Progress:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.broadcast(broadcast_id), STATE_FIELD)
            pipe.hgetall(self._keys.broadcast_progress(broadcast_id))
            state, counters = await pipe.execute()
        if state is None:
            raise KeyError(broadcast_id)
        channels: dict[Channel, ChannelProgress] = {}
        for channel in Channel:
            values = {name: int(counters.get(f"{name}:{channel.value}", 0)) for name in COUNTERS}
            if any(values.values()):
                channels[channel] = ChannelProgress(**values)
        return Progress(
            broadcast_id=broadcast_id,
            state=State(state),
            planned=counters.get("planned") == "1",
            channels=channels,
            started_at=_time(counters.get("started_at")),
            finished_at=_time(counters.get("finished_at")),
        )


def _mapping(fields: dict[str, str]) -> Mapping[Any, Any]:
    """redis-py types hash mappings invariantly; this one is plain text."""
    return fields


def _fields(broadcast: Broadcast) -> dict[str, Any]:
    return {name: getattr(broadcast, name) for name in Broadcast.__dataclass_fields__}


def _encode(broadcast: Broadcast) -> dict[str, str]:
    fields = {
        "topics": ",".join(broadcast.topics),
        "text_de": broadcast.text_de,
        "author": broadcast.author,
        "created_at": broadcast.created_at.isoformat(),
        "priority": str(int(broadcast.priority)),
        "state": broadcast.state.value,
        "needs_review": "1" if broadcast.needs_review else "0",
        "escalated": "1" if broadcast.escalated else "0",
        "links": "\n".join(broadcast.links),
    }
    optional = {"text_en": broadcast.text_en, "image": broadcast.image}
    fields.update({k: v for k, v in optional.items() if v})
    for name in ("scheduled_for", "since"):
        if (moment := getattr(broadcast, name)) is not None:
            fields[name] = moment.isoformat()
    if broadcast.recurrence:
        fields["recurrence"] = broadcast.recurrence
    if broadcast.held is not None:
        fields["held"] = broadcast.held.value
    return fields


def _decode(broadcast_id: str, raw: Mapping[str, str]) -> Broadcast:
    fields = cast(dict[str, str], raw)
    return Broadcast(
        id=broadcast_id,
        topics=tuple(fields["topics"].split(",")),
        text_de=fields["text_de"],
        author=fields["author"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        priority=Priority(int(fields["priority"])),
        text_en=fields.get("text_en"),
        image=fields.get("image"),
        links=tuple(line for line in fields.get("links", "").split("\n") if line),
        state=State(fields["state"]),
        needs_review=fields.get("needs_review") == "1",
        escalated=fields.get("escalated") == "1",
        scheduled_for=_time(fields.get("scheduled_for")),
        recurrence=fields.get("recurrence"),
        since=_time(fields.get("since")),
        held=Hold(fields["held"]) if fields.get("held") else None,
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
