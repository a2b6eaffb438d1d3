"""A broadcast's picture (a feed item's), kept in Redis beside the broadcast rather than on one host's disk:
any sender process can upload it, and it ends with the broadcast's delivery records.

A picture is stored once by its content (two press releases with the same logo share it), with the set of
broadcasts that show it; the last one to end takes it along. Its name is part of the approved content
(broadcasts/version.py), so four-eyes binds the picture's bytes, not only a file name.
"""

from __future__ import annotations

import base64
import hashlib

from city.connection import RedisClient
from city.keys import Keys

# What the messengers take as a photo (Telegram up to 10 MB, WhatsApp up to 5 MB), known by its first bytes.
MAX_BYTES = 5 * 1024 * 1024
_KINDS = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"))

# KEYS: the picture, the broadcasts that show it. ARGV: its bytes (base64), the broadcast's id.
_KEEP = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('SADD', KEYS[2], ARGV[2])
"""
# The same KEYS; ARGV: the broadcast that no longer needs it. The last one takes the picture along.
_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
"""


def image_name(data: bytes) -> str | None:
    """The name a JPEG or PNG is kept under (its content's hash and kind); None for anything else."""
    suffix = next((kind for magic, kind in _KINDS if data.startswith(magic)), None)
    if suffix is None or len(data) > MAX_BYTES:
        return None
    return hashlib.sha256(data).hexdigest()[:32] + suffix


class Images:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._keep = redis.register_script(_KEEP)
        self._release = redis.register_script(_RELEASE)

    async def keep(self, name: str, data: bytes, broadcast_id: str) -> None:
        # Base64: the client decodes every answer as text.
        encoded = base64.b64encode(data).decode("ascii")
        await self._keep(keys=self._pair(name), args=[encoded, broadcast_id])

    async def read(self, name: str) -> bytes | None:
        encoded = await self._redis.get(self._keys.image(name))
        return base64.b64decode(encoded) if encoded else None

    async def release(self, name: str, broadcast_id: str) -> None:
        await self._release(keys=self._pair(name), args=[broadcast_id])

    def _pair(self, name: str) -> list[str]:
        return [self._keys.image(name), self._keys.image_users(name)]
