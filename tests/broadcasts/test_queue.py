"""The delivery queue on its own: a settle retried after a lost answer counts once, handed-back
deliveries keep their text, and a step's survey claims ahead without tripping over a cancelled stream."""

from __future__ import annotations

import redis.asyncio as aioredis

from broadcasts.model import State
from broadcasts.queue import DeliveryQueue, Settlement, open_stream
from broadcasts.queue_scripts import CHAT_FIELD, LANGUAGE_FIELD, TEXT_FIELD
from city.keys import Keys
from city.values import Channel


async def queued(redis: aioredis.Redis, keys: Keys, broadcast_id: str, *entries: tuple[str, ...]) -> None:
    """A broadcast's stream with its consumer group, holding (chat, language[, own text]) entries as the
    planner writes them."""
    await open_stream(redis, keys, broadcast_id, Channel.TELEGRAM)
    for chat, language, *text in entries:
        fields = {CHAT_FIELD: chat, LANGUAGE_FIELD: language} | ({TEXT_FIELD: text[0]} if text else {})
        await redis.xadd(keys.broadcast_queue(broadcast_id, Channel.TELEGRAM), fields)  # type: ignore[arg-type]


async def test_a_repeated_settle_counts_nothing_twice(redis: aioredis.Redis, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    await queued(redis, keys, "9", *((chat, "") for chat in ("1", "2", "3")))
    queue = DeliveryQueue(redis, keys, Channel.TELEGRAM, "worker-a")
    claimed = await queue.claim("9", 10)
    await queue.mark_sending("9", claimed)
    settlements = [Settlement(claimed[0], "sent"), Settlement(claimed[1], "failed")]
    await queue.settle("9", settlements)
    await queue.settle("9", settlements)  # as a client retry after a lost answer would
    progress = await redis.hgetall(keys.broadcast_progress("9"))
    assert progress == {"sent:tg": "1", "failed:tg": "1"}
    assert await queue.remaining("9") == 1
    assert await redis.smembers(keys.broadcast_sending("9", Channel.TELEGRAM)) == {claimed[2].entry_id}


async def test_deliveries_handed_back_keep_a_text_of_their_own(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    await queued(redis, keys, "digest-2026-11-24", ("1", "en", "Your daily digest"), ("2", ""))
    stopping = DeliveryQueue(redis, keys, Channel.TELEGRAM, "worker-a")
    await stopping.release("digest-2026-11-24", await stopping.claim("digest-2026-11-24", 10))
    taken = await DeliveryQueue(redis, keys, Channel.TELEGRAM, "worker-b").claim("digest-2026-11-24", 10)
    assert [(d.chat_id, d.language, d.text) for d in taken] == [
        ("1", "en", "Your daily digest"),
        ("2", "", None),
    ]


async def test_a_survey_claims_ahead_and_survives_a_cancelled_stream(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    await queued(redis, keys, "7", *((chat, "en") for chat in ("1", "2", "3")))
    await redis.zadd(keys.active(Channel.TELEGRAM), {"7": 2, "8": 1})
    await redis.hset(keys.broadcast("7"), "state", "sending")
    queue = DeliveryQueue(redis, keys, Channel.TELEGRAM, "worker-a")

    survey = await queue.survey(["7", "8"], ("7", 2))
    assert survey.active == ["8", "7"], "most urgent first"
    assert survey.states == {"7": State.SENDING, "8": None}, "8 is gone"
    assert [(d.chat_id, d.language) for d in survey.claimed] == [("1", "en"), ("2", "en")]

    await redis.delete(keys.broadcast_queue("7", Channel.TELEGRAM))  # as a cancel does
    assert (await queue.survey([], ("7", 2))).claimed == []
