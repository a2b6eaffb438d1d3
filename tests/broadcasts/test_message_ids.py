"""What each recipient got is kept for a while, and a follow-up reaches exactly them, as a reply to it."""

from __future__ import annotations

import html
from datetime import timedelta

from broadcasts.message_ids import MessageIds
from broadcasts.model import Priority
from broadcasts.records import DeliveryRecords
from city.values import Channel, Resident
from tests.broadcasts.conftest import CITY, Rig


def ids(rig: Rig) -> MessageIds:
    return MessageIds(rig.redis, rig.keys)


async def test_each_recipients_message_id_is_kept_for_correction_days(rig: Rig) -> None:
    await rig.subscribe([1001, 1002])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    sent = {c.chat_id: c.result_id for c in rig.tg.sent(None, "sendMessage")}
    kept = ids(rig)
    for chat in ("1001", "1002"):
        assert await kept.ref(broadcast.id, Resident(Channel.TELEGRAM, chat)) == str(sent[chat])
    assert await kept.counts(broadcast.id) == {Channel.TELEGRAM: 2}
    until = await kept.until(broadcast.id)
    assert until is not None
    assert abs((until - rig.clock()) - timedelta(days=CITY.correction_days)) < timedelta(minutes=1)
    key = rig.keys.broadcast_message_ids(broadcast.id, Channel.TELEGRAM)
    assert abs(await rig.redis.ttl(key) - (until - rig.clock()).total_seconds()) <= 2


async def test_a_retention_set_before_sending_is_kept(rig: Rig) -> None:
    await rig.subscribe([1001])
    broadcast = await rig.broadcast(priority=Priority.ALERT)
    longer = rig.clock() + timedelta(days=20)
    await ids(rig).keep(broadcast.id, longer, rig.clock())
    await rig.send(broadcast.id)
    await rig.drain()
    assert await ids(rig).until(broadcast.id) == longer.replace(microsecond=0)
    key = rig.keys.broadcast_message_ids(broadcast.id, Channel.TELEGRAM)
    assert abs(await rig.redis.ttl(key) - timedelta(days=20).total_seconds()) <= 2


async def test_a_follow_up_reaches_exactly_the_recipients_as_a_reply(rig: Rig) -> None:
    await rig.subscribe([1001, 1002, 1003])
    original = await rig.broadcast(text="Sperrung der B7")
    await rig.send(original.id)
    await rig.drain()
    first = {c.chat_id: c.result_id for c in rig.tg.sent(None, "sendMessage")}
    # Since: one unsubscribed, one was erased, one subscribed anew.
    await rig.residents.unsubscribe(await rig.record(1001), ["verkehr"], rig.clock())
    await rig.residents.erase(Resident(Channel.TELEGRAM, "1002"), [t.id for t in CITY.topics])
    await rig.subscribe([1004])
    follow_up = await rig.broadcast(text="Die B7 ist wieder frei.", follows=original.id)
    await rig.send(follow_up.id)
    await rig.drain()
    replies = rig.tg.sent(None, "sendMessage")[len(first) :]
    assert sorted(c.chat_id or "" for c in replies) == ["1001", "1003"]
    for call in replies:
        assert call.params["reply_parameters"]["message_id"] == first[call.chat_id]
        message = rig.tg.messages(call.chat_id or "")[-1]
        assert message["reply_to_message"]["message_id"] == first[call.chat_id]
        assert "Die B7 ist wieder frei." in html.unescape(message["text"])


async def test_a_reply_to_a_deleted_message_is_sent_alone(rig: Rig) -> None:
    await rig.subscribe([1001])
    original = await rig.broadcast()
    await rig.send(original.id)
    await rig.drain()
    rig.tg.delete_message(1001, int(rig.tg.sent(1001, "sendMessage")[0].result_id or 0))
    follow_up = await rig.broadcast(text="Nachtrag", follows=original.id)
    await rig.send(follow_up.id)
    await rig.drain()
    assert (await rig.engine.progress(follow_up.id)).channels[Channel.TELEGRAM].sent == 1
    assert "reply_to_message" not in rig.tg.messages(1001)[-1]


async def test_erasure_and_the_end_of_delivery_records_remove_the_ids(rig: Rig) -> None:
    await rig.subscribe([1001, 1002])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    await rig.residents.erase(Resident(Channel.TELEGRAM, "1001"), [t.id for t in CITY.topics])
    key = rig.keys.broadcast_message_ids(broadcast.id, Channel.TELEGRAM)
    assert await rig.redis.hkeys(key) == ["1002"]
    records = DeliveryRecords(rig.redis, rig.keys, rig.store)

    async def cancel(_: str) -> None:
        raise AssertionError("nothing is running")

    later = rig.clock() + timedelta(days=CITY.retention.delivery_records_days + 1)
    await records.expire(later, CITY.retention.delivery_records_days, cancel)
    assert not await rig.redis.exists(key)
    assert await rig.redis.zscore(rig.keys.message_ids_index(), broadcast.id) is None


async def test_a_send_on_the_wire_when_cancelled_is_kept_for_a_retraction(rig: Rig) -> None:
    await rig.subscribe([1001, 1002, 1003])
    rig.tg.hold("sendMessage", chats=[1002])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)

    async def on_the_wire() -> bool:
        return len(rig.tg.held) == 1

    await rig.drain(until=on_the_wire)
    await rig.engine.cancel(broadcast.id)
    rig.tg.release()
    await rig.drain()
    # Telegram delivered it after the cancel: the resident has it, so a retraction must find it.
    (delivered,) = rig.tg.sent(1002, "sendMessage")
    assert await ids(rig).ref(broadcast.id, Resident(Channel.TELEGRAM, "1002")) == str(delivered.result_id)
    # And the cancelled broadcast's figures count it: the author learns how many have it.
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress.sent == len(rig.tg.sent(None, "sendMessage")) == 3
