"""The answers to a handled message, kept in Redis from its handling until they are sent.

A message is marked handled together with its answers being kept, so that a process killed in between
neither handles it twice (the mark says it is done) nor loses what it was to answer (sent after the
restart). The answers are deleted as soon as they are out; they are the same words the person is sent,
kept for seconds, and the append-only file's rewrite takes them off the disk with the inbox's bodies.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Resident
from handlers.values import Attachment, Button, Reply

# Answers not sent within this long are not sent at all: they would be about a world long past.
KEEP_S = 24 * 3600

Json = dict[str, Any]


class Answers:
    def __init__(self, redis: RedisClient, keys: Keys, channel: Channel) -> None:
        self._redis = redis
        self._keys = keys
        self._channel = channel

    async def keep(self, entry_id: str, index: int, replies: list[Reply], origin: Json) -> None:
        key = self._keys.inbox_answers(self._channel, entry_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(index), encode(replies, origin))
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def load(self, entry_id: str, index: int) -> tuple[list[Reply], Json] | None:
        raw = await self._redis.hget(self._keys.inbox_answers(self._channel, entry_id), str(index))
        return decode(str(raw)) if raw is not None else None

    async def sent(self, entry_id: str, index: int) -> None:
        await self._redis.hdel(self._keys.inbox_answers(self._channel, entry_id), str(index))


def encode(replies: list[Reply], origin: Json) -> str:
    return json.dumps({"o": origin, "r": [_reply(reply) for reply in replies]}, ensure_ascii=False)


def decode(raw: str) -> tuple[list[Reply], Json]:
    data = json.loads(raw)
    return [_from_json(item) for item in data["r"]], dict(data["o"])


def _reply(reply: Reply) -> Json:
    item: Json = {"t": reply.text}
    if reply.buttons:
        item["b"] = [[[b.label, b.command] for b in row] for row in reply.buttons]
    if reply.attachment is not None:
        a = reply.attachment
        item["a"] = [a.filename, base64.b64encode(a.content).decode(), a.mime_type]
    if reply.replace:
        item["x"] = True
    if reply.to is not None:
        item["to"] = [reply.to.channel.value, reply.to.chat_id]
    return item


def _from_json(item: Json) -> Reply:
    attachment = None
    if "a" in item:
        filename, content, mime_type = item["a"]
        attachment = Attachment(filename, base64.b64decode(content), mime_type)
    return Reply(
        text=item["t"],
        buttons=tuple(tuple(Button(label, command) for label, command in row) for row in item.get("b", ())),
        attachment=attachment,
        replace=bool(item.get("x", False)),
        to=Resident(Channel(item["to"][0]), item["to"][1]) if "to" in item else None,
    )
