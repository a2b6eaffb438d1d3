"""Broadcasts and their progress in Redis, with state changes that are atomic across processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import cast

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel

from broadcasts.active import ActiveLists
from broadcasts.codec import content, decode, encode, fields_of, mapping, time_of
from broadcasts.images import Images, image_name
from broadcasts.model import OPEN, TRANSITIONS, Broadcast, InvalidTransition, NotApproved, State
from broadcasts.progress import ChannelProgress, Progress
from broadcasts.version import versioned

# The field of a broadcast's hash that holds its state (DeliveryQueue.survey reads it too).
STATE_FIELD = "state"

# Moves the state only if it is one of the allowed sources and every requirement holds, setting the
# given fields with it. ARGV: target state, number of field pairs, the pairs, number of requirements,
# the requirements (field, value; a value "@other" means: equal to the field `other`, which must not be
# empty), then the allowed sources. Answers the state found, prefixed with "!" when a requirement failed.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return false end
local pairs_end = 2 + 2 * tonumber(ARGV[2])
local required_end = pairs_end + 1 + 2 * tonumber(ARGV[pairs_end + 1])
for i = required_end + 1, #ARGV do
  if ARGV[i] == current then
    for j = pairs_end + 2, required_end, 2 do
      local want = ARGV[j + 1]
      if string.sub(want, 1, 1) == '@' then
        want = redis.call('HGET', KEYS[1], string.sub(want, 2)) or ''
        if want == '' then return '!' .. current end
      end
      if (redis.call('HGET', KEYS[1], ARGV[j]) or '') ~= want then return '!' .. current end
    end
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    for j = 3, pairs_end, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end
    return current
  end
end
return current
"""

# A draft's new content: only while it is a draft, so that nothing approved can change underneath its
# approval. ARGV: number of field pairs, the pairs, then the fields to delete. Answers the state found.
_SAVE = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current or current ~= 'draft' then return current end
local pairs_end = 1 + 2 * tonumber(ARGV[1])
for j = 2, pairs_end, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end
for j = pairs_end + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
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


# Never approved: what the upgrade to content versions leaves without an approved version.
UNAPPROVED = frozenset({State.DRAFT, State.PENDING_APPROVAL, State.REJECTED, State.EXPIRED})


class Flag(StrEnum):
    """Marks on a broadcast that are no part of its content."""

    NEEDS_REVIEW = "needs_review"
    ESCALATED = "escalated"


class Reported(StrEnum):
    """What a platform reports about a send later (WhatsApp statuses): counted in aggregate only."""

    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"


COUNTERS = ("total", "sent", "failed", "blocked", "retired", "maybe_duplicate", "suppressed", *Reported)


class BroadcastStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._transition = redis.register_script(_TRANSITION)
        self._save = redis.register_script(_SAVE)
        self._create_named = redis.register_script(_CREATE_NAMED)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._adopt = redis.register_script(_ADOPT)
        self.active = ActiveLists(redis, keys)
        self.images = Images(redis, keys)

    async def create(
        self, draft: Broadcast, *, approved_by: str | None = None, image: bytes | None = None
    ) -> Broadcast:
        """Store a new broadcast under the next short id (staff type it: /freigeben 42). `approved_by`:
        approved at birth, as it stands (a feed's item on a topic that needs no approval). `image`: its
        picture, a JPEG or PNG (anything else is refused with ValueError)."""
        name = None
        if image is not None and (name := image_name(image)) is None:
            raise ValueError("a broadcast's image must be a JPEG or PNG of at most 5 MB")
        number = await self._redis.incr(self._keys.broadcast_sequence())
        stored = versioned(Broadcast(**{**fields_of(draft), "id": str(number), "image": name}))
        if approved_by is not None:
            stored = replace(stored, approved=stored.version, approved_by=approved_by)
        async with self._redis.pipeline(transaction=False) as pipe:
            # Indexed as open first: a crash leaves at most an index entry without its broadcast.
            pipe.zadd(self._keys.broadcast_open(), {stored.id: stored.created_at.timestamp()})
            pipe.hset(self._keys.broadcast(stored.id), mapping=mapping(encode(stored)))
            pipe.zadd(self._keys.broadcast_index(), {stored.id: stored.created_at.timestamp()})
            # Its delivery records end a while after it is sent (broadcasts/records.py).
            pipe.zadd(self._keys.retention_records(), {stored.id: stored.created_at.timestamp()})
            await pipe.execute()
        if image is not None and name is not None:
            await self.images.keep(name, image, stored.id)
        return stored

    async def create_named(self, broadcast: Broadcast) -> bool:
        """Store a broadcast under an id derived from what it is (a digest's day, a repeat's date), once:
        False when it exists already. Several processes may try; exactly one creates it. Only the
        scheduler makes these, approved at birth: its version is approved by `broadcast.approved_by`
        (the system for a digest, the series' approver for a repeat)."""
        stored = versioned(broadcast)
        if stored.state is State.APPROVED:
            stored = replace(stored, approved=stored.version)
        pairs = [x for pair in encode(stored).items() for x in pair]
        score = {stored.id: stored.created_at.timestamp()}
        await self._redis.zadd(self._keys.broadcast_open(), score)
        if not await self._create_named(keys=[self._keys.broadcast(stored.id)], args=pairs):
            return False
        async with self._redis.pipeline(transaction=False) as pipe:
            # Listed for retention too: its delivery records end after `delivery_records_days`.
            for index in (self._keys.broadcast_index(), self._keys.retention_records()):
                pipe.zadd(index, score)
            await pipe.execute()
        return True

    async def get(self, broadcast_id: str) -> Broadcast | None:
        fields = await self._redis.hgetall(self._keys.broadcast(broadcast_id))
        return decode(broadcast_id, cast(dict[str, str], fields)) if fields else None

    async def many(self, broadcast_ids: Sequence[str]) -> list[Broadcast | None]:
        """Several broadcasts in one round trip, None for those that do not exist."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for broadcast_id in broadcast_ids:
                pipe.hgetall(self._keys.broadcast(broadcast_id))
            found = await pipe.execute()
        return [decode(i, f) if f else None for i, f in zip(broadcast_ids, found, strict=True)]

    async def recent(self, limit: int) -> list[Broadcast]:
        """The newest broadcasts, newest first."""
        ids = [str(i) for i in await self._redis.zrevrange(self._keys.broadcast_index(), 0, limit - 1)]
        return [broadcast for broadcast in await self.many(ids) if broadcast is not None]

    async def open_items(self) -> list[Broadcast]:
        """Every open broadcast and unchecked alert however old, newest first. Entries the broadcast's
        state contradicts (a crash between its move and the index) are tidied away here."""
        key = self._keys.broadcast_open()
        ids = [str(i) for i in await self._redis.zrevrange(key, 0, -1)]
        found = [b for b in await self.many(ids) if b is not None]
        if stale := [b.id for b in found if b.state not in OPEN and not b.needs_review]:
            await self._redis.zrem(key, *stale)
        return [b for b in found if b.id not in stale]

    async def save(self, broadcast: Broadcast) -> Broadcast:
        """New content for a draft, with a new version (and no approval). Raises InvalidTransition when it
        is no longer a draft: what was submitted or approved never changes underneath."""
        saved = replace(versioned(broadcast), approved="", approved_by="")
        written, deleted = content(saved)
        pairs = [x for pair in written.items() for x in pair]
        found = await self._save(
            keys=[self._keys.broadcast(broadcast.id)], args=[len(written), *pairs, *deleted]
        )
        if found is None:
            raise KeyError(broadcast.id)
        current = State(found.decode() if isinstance(found, bytes) else found)
        if current is not State.DRAFT:
            raise InvalidTransition(current, State.DRAFT)
        return replace(saved, state=State.DRAFT)

    async def flag(self, broadcast_id: str, name: Flag, on: bool) -> None:
        """Set a flag that is no part of the content: an alert to check, or one escalated."""
        key = self._keys.broadcast(broadcast_id)
        if on and name is Flag.NEEDS_REVIEW:
            created = await self._redis.zscore(self._keys.broadcast_index(), broadcast_id)
            await self._redis.zadd(self._keys.broadcast_open(), {broadcast_id: float(created or 0)})
        await self._redis.hset(key, name.value, "1" if on else "0")
        if not on and name is Flag.NEEDS_REVIEW and await self.state(broadcast_id) not in OPEN:
            await self._redis.zrem(self._keys.broadcast_open(), broadcast_id)

    async def approve(
        self, broadcast_id: str, version: str, by: str, *, expect: State | None = None
    ) -> State:
        """Approve exactly `version`: refused (NotApproved) when the content changed meanwhile."""
        return await self.transition(
            broadcast_id,
            State.APPROVED,
            expect=expect,
            require={"version": version},
            fields={"approved": version, "approved_by": by},
        )

    async def adopt(self, broadcast_id: str, author: str, by: str) -> bool:
        """`by` becomes the author of a draft still by `author`; False when it is not (any more)."""
        key = self._keys.broadcast(broadcast_id)
        return bool(await self._adopt(keys=[key], args=[author, by]))

    async def transition(
        self,
        broadcast_id: str,
        to: State,
        *,
        expect: State | None = None,
        fields: Mapping[str, str] | None = None,
        require: Mapping[str, str] | None = None,
        bound: bool = False,
    ) -> State:
        """Move to `to` if the current state allows it (and is `expect`, when given), setting `fields`
        in the same step; returns the previous state. `require` names field values that must hold, and
        `bound` that the content is the approved version: otherwise NotApproved, and nothing changes."""
        sources = [state.value for state, targets in TRANSITIONS.items() if to in targets]
        if expect is not None:
            sources = [s for s in sources if s == expect.value]
        pairs = [x for pair in (fields or {}).items() for x in pair]
        required = dict(require or {}) | ({"approved": "@version"} if bound else {})
        conditions = [x for pair in required.items() for x in pair]
        found = await self._transition(
            keys=[self._keys.broadcast(broadcast_id)],
            args=[to.value, len(pairs) // 2, *pairs, len(required), *conditions, *sources],
        )
        if found is None:
            raise KeyError(broadcast_id)
        text = found.decode() if isinstance(found, bytes) else str(found)
        if text.startswith("!"):
            raise NotApproved(broadcast_id, State(text[1:]))
        previous = State(text)
        if previous.value not in sources:
            raise InvalidTransition(previous, to)
        # Every move into an open state comes from one, so the index only loses members here.
        if (
            to not in OPEN
            and await self._redis.hget(self._keys.broadcast(broadcast_id), "needs_review") != "1"
        ):
            await self._redis.zrem(self._keys.broadcast_open(), broadcast_id)
        return previous

    async def migrate(self, approvers: Mapping[str, str]) -> int:
        """Once, on the upgrade to schema 2: give each broadcast a version (approved as it stands where it
        was approved under the old rules: by its approver in `approvers`, else its author) and index the
        open ones, however old. Returns how many broadcasts it looked at."""
        looked = 0
        async for member, _ in self._redis.zscan_iter(self._keys.broadcast_index()):
            found = await self.get(str(member))
            if found is None:
                continue
            looked += 1
            if not found.version:
                stamped = versioned(found)
                if found.state not in UNAPPROVED:
                    by = "system" if found.author == "system" else approvers.get(found.id, found.author)
                    stamped = replace(stamped, approved=stamped.version, approved_by=by)
                written, _ = content(stamped)
                await self._redis.hset(self._keys.broadcast(found.id), mapping=mapping(written))
            if found.state in OPEN or found.needs_review:
                await self._redis.zadd(self._keys.broadcast_open(), {found.id: found.created_at.timestamp()})
        return looked

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

    async def mark_amended(self, broadcast_id: str, by: str) -> None:
        """A correction or retraction of the broadcast went out: what reads it later reads that instead."""
        await self._redis.hset(self._keys.broadcast(broadcast_id), "amended_by", by)

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
            started_at=time_of(counters.get("started_at")),
            finished_at=time_of(counters.get("finished_at")),
        )
