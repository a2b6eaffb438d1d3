"""Searching a whole Redis server, and every file under a directory (the embedded Redis's DATA_DIR), for
traces of a person, for the erasure tests."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path
from typing import Any

from city.connection import RedisClient

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


def packed(identifier: str) -> set[bytes]:
    """A numeric id as binary integers, as Redis packs small sets and hashes (intsets, listpacks) and as
    an RDB file stores integers: little- and big-endian, in every width that holds it. Widths below four
    bytes are left out: two bytes occur anywhere by chance."""
    if not identifier.lstrip("-").isdecimal():
        return set()
    number = int(identifier)
    found: set[bytes] = set()
    for fmt in ("i", "q", "I", "Q"):
        for order in ("<", ">"):
            try:
                found.add(struct.pack(order + fmt, number))
            except struct.error:
                continue  # does not fit this width
    return found


def file_traces(root: Path, identifier: str) -> list[str]:
    """Every file under `root` that holds the identifier: raw, hex or base64 as a token of its text, or
    packed as a binary integer anywhere in its bytes."""
    wanted, binary = needles(identifier), packed(identifier)
    hits: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():  # the server's socket, directories
            continue
        data = path.read_bytes()
        tokens = set(TOKEN.split(data.decode("latin-1")))
        if wanted & tokens or any(form in data for form in binary):
            hits.append(str(path.relative_to(root)))
    return hits


async def traces(redis: RedisClient, identifier: str, *more: str) -> list[str]:
    """Every key whose name or value mentions the identifier (or any of `more`), scanning the whole server
    once however many are asked for."""
    wanted = set().union(*(needles(each) for each in (identifier, *more)))
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
