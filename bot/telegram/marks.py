"""Which Telegram updates were taken up: each update id counts once, whether Telegram sent it twice (a
webhook answered late, an offset confirmed after a crash) or a restarted process reads it again.

An update id is no personal data (a counter of the bot's), so it is kept as it is, for as long as
Telegram may send an update again: it keeps unconfirmed updates for 24 hours.
"""

from __future__ import annotations

from bot.inbox.claim import Claim
from city.connection import RedisClient
from city.keys import Keys

SEEN_TTL_S = 2 * 24 * 3600
DONE = "done:"

# KEYS[1]: the update's mark. ARGV: the stream entry id, ttl. The first entry to carry the update claims
# it; the same entry may take it up again (a crash before it was handled). Answers 1 to handle it,
# 2 when that entry handled it already, 0 for a copy carried by another entry.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
if owner == ARGV[1] then return 1 end
if owner == 'done:' .. ARGV[1] then return 2 end
return 0
"""

CLAIMS = {0: Claim.DUPLICATE, 1: Claim.NEW, 2: Claim.HANDLED}


class TelegramMarks:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, update_id: int, entry_id: str) -> Claim:
        answer = await self._claim(keys=[self._keys.telegram_seen(update_id)], args=[entry_id, SEEN_TTL_S])
        return CLAIMS[int(answer)]

    async def finish(self, update_id: int, entry_id: str) -> None:
        await self._redis.set(self._keys.telegram_seen(update_id), DONE + entry_id, ex=SEEN_TTL_S)
