"""What stadtfunk remembers per WhatsApp resident outside their record: the 24-hour window and the
message ids already taken up. Both live under a keyed hash of the number, expire, and go with erasure.

A wamid encodes the sender's number, so it is stored only as a keyed hash too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from bot.inbox.claim import Claim
from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Resident

# https://developers.facebook.com/docs/whatsapp/pricing#customer-service-windows
WINDOW_S = 24 * 3600
# Meta retries a webhook for up to 7 days; a day more covers clocks and a slow last retry.
SEEN_TTL_S = 8 * 24 * 3600
# Trimming old ids costs a read of the whole hash; do it only once it has grown this much.
TRIM_AT = 64

DONE = "done:"

# A message id counts once: the first stream entry that carries it claims it. The same entry may take
# it up again (a crash before it was handled); any other entry is a duplicate. KEYS[1]: the resident's
# hash of seen ids. ARGV: hashed id, stream entry id, ttl. Answers 1 to handle it, 2 when that entry
# handled it already, 0 for a copy carried by another entry.
_CLAIM = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner == 'done:' .. ARGV[2] then return 2 end
if owner and owner ~= ARGV[2] then return 0 end
if not owner then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
CLAIMS = {0: Claim.DUPLICATE, 1: Claim.NEW, 2: Claim.HANDLED}

# Marked handled only where the claim still stands: a message that erased its sender (LOESCHEN JA)
# took the marks with it, and must not write them back. KEYS[1]: the hash; ARGV: hashed id, entry id.
_FINISH = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], 'done:' .. ARGV[2])
end
return 1
"""


class WhatsAppMarks:
    def __init__(self, redis: RedisClient, keys: Keys, hasher: Callable[[str], str]) -> None:
        self._redis = redis
        self._keys = keys
        self._hash = hasher
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)

    def _resident(self, chat_id: str) -> str:
        # The same keyed hash the limiter uses for this resident.
        return self._hash(f"{Channel.WHATSAPP.value}:{chat_id}")

    async def note_inbound(self, chat_id: str, at: datetime) -> None:
        """The resident wrote: their customer-service window runs 24 hours from now."""
        key = self._keys.whatsapp_window(self._resident(chat_id))
        await self._redis.set(key, repr(at.timestamp()), ex=WINDOW_S)

    async def window_open(self, chat_id: str, now: datetime) -> bool:
        last = await self._redis.get(self._keys.whatsapp_window(self._resident(chat_id)))
        # The expiry only tidies up; `now` decides, so tests control time.
        return last is not None and now.timestamp() - float(last) < WINDOW_S

    async def closed_windows(self, chat_ids: Sequence[str], now: datetime) -> int:
        """How many of these residents are outside their window now: they would get a template."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.get(self._keys.whatsapp_window(self._resident(chat_id)))
            lasts = await pipe.execute()
        return sum(1 for last in lasts if last is None or now.timestamp() - float(last) >= WINDOW_S)

    async def claim(self, chat_id: str, message_id: str, entry_id: str) -> Claim:
        """Whether this stream entry is to handle the message id (see Claim)."""
        key = self._keys.whatsapp_seen(self._resident(chat_id))
        claim = CLAIMS[
            int(await self._claim(keys=[key], args=[self._hash(message_id), entry_id, SEEN_TTL_S]))
        ]
        if claim is Claim.NEW and int(await self._redis.hlen(key)) > TRIM_AT:
            await self._trim(key, entry_id)
        return claim

    async def finish(self, chat_id: str, message_id: str, entry_id: str) -> None:
        """The message id is handled by this entry: a replay of the entry does not handle it again."""
        key = self._keys.whatsapp_seen(self._resident(chat_id))
        await self._finish(keys=[key], args=[self._hash(message_id), entry_id])

    async def _trim(self, key: str, entry_id: str) -> None:
        """Forget ids older than the retry period; stream entry ids start with their time in ms."""
        newest_ms = int(entry_id.split("-", 1)[0])
        seen = cast(dict[str, str], await self._redis.hgetall(key))
        old = [
            field
            for field, owner in seen.items()
            if newest_ms - int(owner.removeprefix(DONE).split("-", 1)[0]) > SEEN_TTL_S * 1000
        ]
        if old:
            await self._redis.hdel(key, *old)

    async def erase(self, chat_id: str) -> None:
        hashed = self._resident(chat_id)
        await self._redis.delete(self._keys.whatsapp_window(hashed), self._keys.whatsapp_seen(hashed))

    async def forget(self, resident: Resident) -> None:
        """What erasure asks of the marks (city.residents.Forget): a WhatsApp resident's go with them."""
        if resident.channel is Channel.WHATSAPP:
            await self.erase(resident.chat_id)
