"""Consent to the privacy notice: every version a resident agreed to, and, after the city changed its
notice, who has not agreed to the new one yet (news waits for them: broadcasts/planner.py asks here).

The history lives in the resident's record (the consent script below is what writes it); the list of those
awaiting consent is this module's: made by the privacy upkeep after a change (`list_awaiting`), kept by
consent and erasure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from redis.asyncio.cluster import RedisCluster

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Consent, Resident

# Consent keeps its history: each version agreed to, with the time it was first agreed to. A record from
# before the history was kept starts it with the consent it holds. KEYS[1]: the record. ARGV: language,
# version, time (ISO 8601).
_CONSENT = """
local raw = redis.call('HGET', KEYS[1], 'consents')
local history = {}
if raw then
  history = cjson.decode(raw)
else
  local at = redis.call('HGET', KEYS[1], 'consent_at')
  if at then history[1] = {version = redis.call('HGET', KEYS[1], 'consent_version') or '', at = at} end
end
if #history == 0 or history[#history].version ~= ARGV[2] then
  history[#history + 1] = {version = ARGV[2], at = ARGV[3]}
end
redis.call('HSET', KEYS[1], 'language', ARGV[1], 'consent_at', ARGV[3], 'consent_version', ARGV[2],
           'consents', cjson.encode(history))
return #history
"""

# The privacy notice version a resident who agreed to an older one was asked to agree to: news waits for
# their consent, and the request goes out once per version (broadcasts/planner.py).
CONSENT_ASKED = "consent_asked"
# Records looked at per step when listing who has not agreed to a new privacy notice yet.
NOTICE_SCAN = 1000
_NOTE_ASKED = """
if redis.call('HEXISTS', KEYS[1], 'consent_at') == 0 then return 0 end
return redis.call('HSET', KEYS[1], 'consent_asked', ARGV[1])
"""


class Consents:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._consent = redis.register_script(_CONSENT)

    async def agree(self, resident: Resident, *, language: str, version: str, at: datetime) -> None:
        """Record consent to a version of the privacy notice, keeping the versions agreed to before."""
        await self._consent(keys=[self._keys.resident(resident)], args=[language, version, at.isoformat()])
        # Consent is always to the city's current notice: whatever the list of those awaiting it says.
        await self._redis.srem(self._keys.consent_awaiting(resident.channel), resident.chat_id)

    def forget(self, pipe: Any, resident: Resident) -> None:
        """Erasure: off the list of those awaiting consent."""
        pipe.srem(self._keys.consent_awaiting(resident.channel), resident.chat_id)

    async def move(self, old: Resident, new: Resident) -> None:
        """A group chat became a supergroup: it awaits consent under its new id if it did under the old."""
        awaiting = self._keys.consent_awaiting(old.channel)
        if await self._redis.sismember(awaiting, old.chat_id):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.srem(awaiting, old.chat_id)
                pipe.sadd(awaiting, new.chat_id)
                await pipe.execute()

    async def list_awaiting(self, version: str) -> bool:
        """One step of listing the residents who agreed to an older privacy notice than `version`, after
        the city file changed it (the upkeep calls this until it answers True: the list is complete).
        Until then the planner asks each record instead (`outdated_consents`)."""
        state = cast(dict[str, str], await self._redis.hgetall(self._keys.consent_notice()))
        if state.get("version") == version:
            return True
        listing = state.get("cursors") if state.get("listing") == version else None
        cursors: dict[str, int] | None = json.loads(listing) if listing else None
        if cursors is None or any(not self._node_known(name) for name in cursors):
            # A new version, or a cluster node gone in a failover: list from the start. Not one
            # transaction (the keys lie in several Cluster slots): a crash half-way leaves the listing
            # marker on the old version, so the next call starts over.
            cursors = dict.fromkeys(self._scanned_nodes(), 0)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(*(self._keys.consent_awaiting(channel) for channel in Channel))
                pipe.hset(
                    self._keys.consent_notice(), mapping={"listing": version, "cursors": json.dumps(cursors)}
                )
                pipe.hdel(self._keys.consent_notice(), "version", "cursor")
                await pipe.execute()
        node = next(iter(cursors))
        cursor, found = await self._scan_one(node, cursors[node])
        if cursor == 0:
            del cursors[node]
        else:
            cursors[node] = cursor
        records = [Resident.from_ref(str(key)[str(key).index("{") + 1 : -1]) for key in found
                   if str(key).endswith("}")]  # fmt: skip
        async with self._redis.pipeline(transaction=False) as pipe:
            for resident in records:
                pipe.hget(self._keys.resident(resident), "consent_version")
            agreed = await pipe.execute()
        waiting = [
            resident for resident, given in zip(records, agreed, strict=True) if given not in (None, version)
        ]
        async with self._redis.pipeline(transaction=False) as pipe:
            for resident in waiting:
                pipe.sadd(self._keys.consent_awaiting(resident.channel), resident.chat_id)
                pipe.exists(self._keys.resident(resident))
            present = (await pipe.execute())[1::2]
        # Erased between the look and the listing: off the list again, so that it holds no trace of them.
        gone = [resident for resident, there in zip(waiting, present, strict=True) if not there]
        async with self._redis.pipeline(transaction=False) as pipe:
            for resident in gone:
                self.forget(pipe, resident)
            state_field = ("version", version) if not cursors else ("cursors", json.dumps(cursors))
            pipe.hset(self._keys.consent_notice(), *state_field)
            await pipe.execute()
        return not cursors

    # SCAN walks one server's keys: on a Cluster each primary is walked with a cursor of its own, kept
    # under the primary's name so that the listing resumes where it stopped.
    def _scanned_nodes(self) -> list[str]:
        if isinstance(self._redis, RedisCluster):
            return [node.name for node in self._redis.get_primaries()]
        return [""]

    def _node_known(self, name: str) -> bool:
        if isinstance(self._redis, RedisCluster):
            return name in {node.name for node in self._redis.get_primaries()}
        return name == ""

    async def _scan_one(self, name: str, cursor: int) -> tuple[int, list[Any]]:
        pattern = self._keys.resident_pattern()
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_node(node_name=name)
            # The cluster client answers with each node's cursor, by the node's name.
            answer = await self._redis.scan(cursor, match=pattern, count=NOTICE_SCAN, target_nodes=node)
            cursors, found = cast(tuple[dict[str, int], list[Any]], answer)
            return int(cursors[name]), list(found)
        cursor, found = await self._redis.scan(cursor, match=pattern, count=NOTICE_SCAN)
        return int(cursor), list(found)


async def outdated_consents(
    redis: RedisClient, keys: Keys, channel: Channel, chats: Sequence[str], version: str
) -> list[bool]:
    """Which of these residents have not agreed to `version` of the privacy notice (news waits for them):
    one look at the list made when the notice changed, or, while it is still being made, at each record.
    A chat without a record counts as not agreed."""
    if not chats:
        return []
    if await redis.hget(keys.consent_notice(), "version") == version:
        return [bool(flag) for flag in await redis.smismember(keys.consent_awaiting(channel), list(chats))]
    async with redis.pipeline(transaction=False) as pipe:
        for chat in chats:
            pipe.hget(keys.resident(Resident(channel, chat)), "consent_version")
        return [given != version for given in await pipe.execute()]


async def note_asked(redis: RedisClient, keys: Keys, residents: Sequence[Resident], version: str) -> None:
    """These residents were sent the request to agree to `version` of the privacy notice; a record erased
    meanwhile is not brought back."""
    script = redis.register_script(_NOTE_ASKED)
    # One call per record, at once: each record is a slot of its own on a cluster.
    await asyncio.gather(*(script(keys=[keys.resident(resident)], args=[version]) for resident in residents))


def history(fields: dict[str, str]) -> tuple[Consent, ...]:
    """The consents a record holds, oldest first; a record from before the history has its one consent."""
    raw = fields.get("consents")
    if raw:
        return tuple(Consent(str(c["version"]), datetime.fromisoformat(c["at"])) for c in json.loads(raw))
    return (Consent(fields.get("consent_version", ""), datetime.fromisoformat(fields["consent_at"])),)
