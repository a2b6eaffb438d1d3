"""Flood control per chat: a sliding window over when a chat's messages were written.

More than `messages` within `seconds` and the chat is flooding: the first message over the budget gets
one notice, the rest nothing, until a message finds the window back within the budget. Every arrival
counts, handled or not, so whoever keeps writing fast stays quiet.

The window lives in Redis, beside the resident's record (one hash tag), so that every service process
counts a chat's messages together: a flooder whose messages the consumer group spreads over two processes
still gets its budget once. Each message counts once by its inbox entry, also when it is handled again
after a crash. The window holds times and entry ids only, expires with the window, and an erasure takes
it at once (city/residents.py).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import cast

from city.connection import RedisClient
from city.flood import Flood
from city.keys import Keys
from city.values import Resident


class Verdict(Enum):
    HANDLE = "handle"
    NOTICE = "notice"  # over the budget for the first time: tell the chat once
    DROP = "drop"


# KEYS: the chat's window (score: written at, member: inbox entry), its "notice given" flag.
# ARGV: written at, window seconds, budget, the message's member. Returns 0 handle, 1 notice, 2 drop.
_ADMIT = """
local at, seconds, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'NX', at, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - seconds)
-- The newest budget + 1 decide; a flooder's thousands more would only take memory.
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(budget + 2))
local ttl = math.ceil(seconds * 1000)
redis.call('PEXPIRE', KEYS[1], ttl)
if redis.call('ZCARD', KEYS[1]) <= budget then
  redis.call('DEL', KEYS[2])
  return 0
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl) then return 1 end
redis.call('PEXPIRE', KEYS[2], ttl)
return 2
"""
VERDICTS = (Verdict.HANDLE, Verdict.NOTICE, Verdict.DROP)


class FloodGate:
    def __init__(self, redis: RedisClient, keys: Keys, budget: Callable[[], Flood]) -> None:
        self._keys = keys
        self._budget = budget
        self._script = redis.register_script(_ADMIT)

    @property
    def window_s(self) -> float:
        return self._budget().seconds

    async def admit(self, resident: Resident, at: float, message: str) -> Verdict:
        """Count `message` (its inbox entry), written at `at` (epoch seconds) in the resident's chat, and
        say what to do with it; the budget is read each time, so a reloaded city file applies at once."""
        budget = self._budget()
        keys = [self._keys.resident_flood(resident), self._keys.resident_flooding(resident)]
        found = await self._script(keys=keys, args=[at, budget.seconds, budget.messages, message])
        return VERDICTS[cast(int, found)]
