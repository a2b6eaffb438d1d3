"""An erasure in the broadcasts still running: the resident's queued deliveries are dropped, and a planner
still reading an audience is told to skip them.

Residents.erase calls `drop_resident` through its forgetters (wired in bot/assembly.residents_for), once
the resident has left every audience: no planner can find them there again. A planner may have read its
page of the audience just before, though: so first each broadcast still being planned is told to skip
them, then what was queued already is deleted. A delivery a sender has claimed meanwhile is deleted too;
the sender finds it gone when it marks it as sending (broadcasts/queue.py), and never sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from city.connection import RedisClient
from city.keys import Keys
from city.values import Resident

from broadcasts.active import ActiveLists
from broadcasts.queue_scripts import CHAT_FIELD

# Mark a resident as erased for a broadcast still being planned (KEYS[1] its erased set, KEYS[2] its
# progress): its planner skips them even if it read the audience before they left. ARGV: keyed hash, ttl.
_FORGET_RECIPIENT = """
if redis.call('HGET', KEYS[2], 'planned') == '1' then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
# Planning takes minutes; the erased set is deleted when it ends, and expires in any case.
ERASED_TTL_S = 7 * 24 * 3600


async def drop_resident(
    redis: RedisClient, keys: Keys, hasher: Callable[[str], str], resident: Resident
) -> None:
    """Drop the resident from every broadcast still sending (or paused) on their channel: an erasure
    request outranks the last message of a broadcast. This reads each running broadcast's stream once;
    erasures are rare, broadcasts few at a time."""
    forget = redis.register_script(_FORGET_RECIPIENT)
    recipient = hasher(f"{resident.channel.value}:{resident.chat_id}")
    for broadcast_id in await ActiveLists(redis, keys).ids(resident.channel):
        await forget(
            keys=[keys.broadcast_erased(broadcast_id), keys.broadcast_progress(broadcast_id)],
            args=[recipient, ERASED_TTL_S],
        )
        stream = keys.broadcast_queue(broadcast_id, resident.channel)
        start = "-"
        while entries := cast(
            list[tuple[str, dict[str, str]]], await redis.xrange(stream, min=start, count=1000)
        ):
            mine = [entry_id for entry_id, fields in entries if fields.get(CHAT_FIELD) == resident.chat_id]
            if mine:
                await redis.xdel(stream, *mine)
            start = "(" + str(entries[-1][0])
