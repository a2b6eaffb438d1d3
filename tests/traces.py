"""Searching a whole Redis server for traces of a person, for the erasure tests."""

from __future__ import annotations

import base64
import re
from typing import Any

import redis.asyncio as aioredis

# Values are compared token by token: a short id such as 777 must not "match" inside a stream
# entry's millisecond timestamp or a keyed hash, yet "tg:777" or "777,888" still give it away.
TOKEN = re.compile(r"[^0-9A-Za-z+/=]+")

# How each kind of value is read back in full.
READERS: dict[str, tuple[str, ...]] = {
    "string": ("GET",),
    "hash": ("HGETALL",),
    "set": ("SMEMBERS",),
    "zset": ("ZRANGE", "0", "-1", "WITHSCORES"),
    "list": ("LRANGE", "0", "-1"),
    "stream": ("XRANGE", "-", "+"),
}


def needles(identifier: str) -> set[str]:
    """The id raw and in the encodings a careless implementation might store it in."""
    found = {identifier, base64.b64encode(identifier.encode()).decode(), identifier.encode().hex()}
    if identifier.lstrip("-").isdecimal():
        number = int(identifier)
        found |= {f"+{identifier}", hex(number), f"{number:x}", number.to_bytes(8, "big", signed=True).hex()}
    return found


async def traces(redis: aioredis.Redis, identifier: str) -> list[str]:
    """Every key whose name or value mentions the identifier, scanning the whole server."""
    wanted = needles(identifier)
    # Raw commands answer whatever the key holds; redis-py types them as untyped, so read them as Any.
    client: Any = redis
    hits: list[str] = []
    async for key in redis.scan_iter(count=1000):
        name = key if isinstance(key, str) else key.decode()
        kind: Any = await client.execute_command("TYPE", key)
        kind = kind if isinstance(kind, str) else kind.decode()
        reader = READERS.get(kind)
        value = None if reader is None else await client.execute_command(reader[0], key, *reader[1:])
        tokens = set(TOKEN.split(name)) | set(TOKEN.split(_flatten(value)))
        if wanted & tokens:
            hits.append(name)
    return hits


def _flatten(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return " ".join(_flatten(k) + "=" + _flatten(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_flatten(v) for v in value)
    return str(value)
