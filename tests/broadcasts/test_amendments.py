"""Corrections and retractions in the engine: exactly the original's recipients, edited in place with a
note, the rest of a running original's audience with the corrected text only, ahead of every alert."""

from __future__ import annotations

import html
from datetime import timedelta

from broadcasts.model import Amendment, Broadcast, Priority, State
from broadcasts.timeline import Timeline
from city.values import Channel, Resident
from tests.broadcasts.conftest import CITY, Rig


async def amend(rig: Rig, original: Broadcast, amends: Amendment, text: str) -> Broadcast:
    """A correction or retraction, approved by a second person, as the desk makes it."""
    return await rig.broadcast(
        topics=original.topics,
        text=text,
        priority=original.priority,
        follows=original.id,
        amends=amends,
    )


def texts(rig: Rig, chat: int, method: str = "sendMessage") -> list[str]:
    return [html.unescape(str(c.params["text"])) for c in rig.tg.sent(chat, method)]


async def sent_to_all(rig: Rig, chats: range) -> Broadcast:
    await rig.subscribe(chats)
    original = await rig.broadcast(text="Die B7 ist gesperrt.", priority=Priority.ALERT)
    await rig.send(original.id)
    await rig.drain()
    return original


async def test_a_correction_edits_each_message_and_replies_once(rig: Rig) -> None:
    chats = range(1001, 1006)
    original = await sent_to_all(rig, chats)
    first = {c.chat_id: c.result_id for c in rig.tg.sent(None, "sendMessage")}
    correction = await amend(rig, original, Amendment.CORRECTION, "Die B8 ist gesperrt, nicht die B7.")
    await rig.send(correction.id)
    await rig.drain()
    for chat in chats:
        (edit,) = rig.tg.sent(chat, "editMessageText")
        assert edit.params["message_id"] == first[str(chat)]
        (message,) = rig.tg.messages(chat)[:1]
        shown = html.unescape(message["text"])
        assert shown.startswith("✏️ Korrigiert am 23.11.2026 um 10:00\n\n⚠️ Eilmeldung Verkehr")
        assert "Die B8 ist gesperrt, nicht die B7." in shown
        assert "Die B7 ist gesperrt." not in shown
        note = rig.tg.sent(chat, "sendMessage")[1:]
        assert [c.params["reply_parameters"]["message_id"] for c in note] == [first[str(chat)]]
        assert texts(rig, chat)[1:] == [
            "✏️ Diese Meldung wurde korrigiert. Die richtige Fassung steht jetzt oben."
        ]
    progress = await rig.engine.progress(correction.id)
    assert progress.state is State.DONE
    assert progress.channels[Channel.TELEGRAM].sent == 10  # an edit and a note each


async def test_an_edit_that_fails_still_sends_the_note(rig: Rig) -> None:
    original = await sent_to_all(rig, range(1001, 1003))
    rig.tg.delete_message(1001, int(rig.tg.sent(1001, "sendMessage")[0].result_id or 0))
    correction = await amend(rig, original, Amendment.CORRECTION, "Richtig ist: die B8.")
    await rig.send(correction.id)
    await rig.drain()
    (failed,) = [c for c in rig.tg.calls if c.method == "editMessageText" and c.chat_id == "1001"]
    assert failed.status == 400
    assert len(texts(rig, 1001)) == 2
    assert "reply_to_message" not in rig.tg.messages(1001)[-1], "the original is gone: the note stands alone"
    assert (await rig.engine.progress(correction.id)).channels[Channel.TELEGRAM].failed == 1


async def test_unsubscribed_since_still_get_it_erased_do_not(rig: Rig) -> None:
    original = await sent_to_all(rig, range(1001, 1004))
    await rig.residents.unsubscribe(await rig.record(1001), ["verkehr"], rig.clock())
    await rig.residents.erase(Resident(Channel.TELEGRAM, "1002"), [t.id for t in CITY.topics])
    await rig.subscribe([1009])
    retraction = await amend(rig, original, Amendment.RETRACTION, "Falscher Alarm")
    await rig.send(retraction.id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "editMessageText")) == ["1001", "1003"]
    assert texts(rig, 1002) == ["⚠️ Eilmeldung Verkehr\n\nDie B7 ist gesperrt."]
    assert texts(rig, 1009) == []
    (withdrawn,) = rig.tg.messages(1003)[:1]
    assert (
        html.unescape(withdrawn["text"]) == "❌ Zurückgezogen am 23.11.2026 um 10:00\nGrund: Falscher Alarm"
    )
    assert texts(rig, 1003)[1] == (
        "❌ Diese Meldung wurde zurückgezogen. Bitte beachten Sie sie nicht mehr.\nGrund: Falscher Alarm"
    )


async def test_a_correction_during_sending_gives_the_rest_the_new_text_only(rig: Rig) -> None:
    chats = range(1, 61)
    await rig.subscribe(chats)
    original = await rig.broadcast(text="Die B7 ist gesperrt.")
    await rig.send(original.id)
    await rig.drain(until=lambda: _sent_at_least(rig, 10))
    correction = await amend(rig, original, Amendment.CORRECTION, "Die B8 ist gesperrt.")
    await rig.send(correction.id)
    await rig.drain()
    assert await rig.store.state(original.id) is State.CANCELLED
    got_original = {c.chat_id for c in rig.tg.sent(None, "sendMessage") if "B7" in c.params["text"]}
    assert 10 <= len(got_original) < 60
    for chat in chats:
        received = texts(rig, chat)
        if str(chat) in got_original:
            assert len(rig.tg.sent(chat, "editMessageText")) == 1
            assert "Die B8 ist gesperrt." in html.unescape(rig.tg.messages(chat)[0]["text"])
            assert received[1].startswith("✏️ Diese Meldung wurde korrigiert.")
        else:
            assert received == ["📣 Verkehr\n\nDie B8 ist gesperrt."], chat
    assert (await rig.engine.progress(correction.id)).channels[Channel.TELEGRAM].sent == 60 + len(
        got_original
    )


async def test_a_retraction_of_a_broadcast_still_queued_stops_it(rig: Rig) -> None:
    await rig.subscribe(range(1, 21))
    original = await rig.broadcast(text="Die B7 ist gesperrt.")
    await rig.send(original.id)  # planned, nothing sent yet
    retraction = await amend(rig, original, Amendment.RETRACTION, "")
    await rig.send(retraction.id)
    await rig.drain()
    assert await rig.store.state(original.id) is State.CANCELLED
    assert rig.tg.sent(None, "sendMessage") == []
    progress = await rig.engine.progress(retraction.id)
    assert progress.state is State.DONE
    assert progress.channels == {}


async def test_an_alerts_correction_goes_ahead_of_every_alert(rig: Rig) -> None:
    original = await sent_to_all(rig, range(1, 4))
    rig.clock.advance(minutes=5)
    other = await rig.broadcast(text="Neue Warnung", priority=Priority.ALERT)
    await rig.send(other.id)
    correction = await amend(rig, original, Amendment.CORRECTION, "Richtig: die B8.")
    await rig.send(correction.id)
    assert await rig.store.active.ids(Channel.TELEGRAM) == [correction.id, other.id]
    news = await rig.broadcast(text="Nachricht")
    news_fix = await amend(rig, news, Amendment.CORRECTION, "Berichtigt")
    await rig.store.active.add(news_fix, [Channel.TELEGRAM])
    await rig.store.active.add(news, [Channel.TELEGRAM])
    lanes = await rig.store.active.listed(Channel.TELEGRAM)
    assert [(listed.broadcast_id, listed.priority) for listed in lanes] == [
        (correction.id, Priority.ALERT),
        (other.id, Priority.ALERT),
        (news_fix.id, Priority.ALERT),  # a news item's correction is in the alerts' lane
        (news.id, Priority.NEWS),
    ]


async def test_digests_and_new_subscribers_read_the_corrected_item_and_never_a_retracted_one(
    rig: Rig,
) -> None:
    await rig.subscribe([1001])
    timeline = Timeline(rig.redis, rig.keys, rig.store)
    start = rig.clock()
    items = []
    for text in ("Die B7 ist gesperrt.", "Markt fällt aus."):
        item = await rig.broadcast(text=text)
        await timeline.record(item, ["verkehr"], rig.clock())
        await rig.send(item.id)
        await rig.drain()
        items.append(item)
    await rig.send((await amend(rig, items[0], Amendment.CORRECTION, "Die B8 ist gesperrt.")).id)
    await rig.send((await amend(rig, items[1], Amendment.RETRACTION, "")).id)
    await rig.drain()
    found = await timeline.news_between(["verkehr"], start - timedelta(minutes=1), rig.clock())
    assert [item.broadcast.text_de for item in found["verkehr"]] == ["Die B8 ist gesperrt."]
    assert [item.broadcast.text_de for item in await timeline.latest("verkehr", 3)] == [
        "Die B8 ist gesperrt."
    ]


async def _sent_at_least(rig: Rig, count: int) -> bool:
    return len(rig.tg.sent(None, "sendMessage")) >= count


async def test_a_photo_is_corrected_in_its_caption_and_a_long_text_in_every_part(rig: Rig) -> None:
    image = b"\x89PNG\r\n\x1a\n fake image"
    await rig.subscribe([1001, 1002])
    photo = await rig.broadcast(text="Die B7 ist gesperrt.", image=image)
    await rig.send(photo.id)
    await rig.drain()
    long = await rig.broadcast(text="\n\n".join(["Die B7 ist gesperrt." * 20] * 12))  # two messages
    await rig.send(long.id)
    await rig.drain()
    assert len(rig.tg.sent(1001, "sendMessage")) == 2
    for original in (photo, long):
        await rig.send((await amend(rig, original, Amendment.CORRECTION, "Die B8 ist gesperrt.")).id)
        await rig.drain()
    (caption,) = rig.tg.sent(1001, "editMessageCaption")
    assert html.unescape(caption.params["caption"]).startswith("✏️ Korrigiert am ")
    assert "Die B8 ist gesperrt." in caption.params["caption"]
    first, second = rig.tg.sent(1001, "editMessageText")
    assert "Die B8 ist gesperrt." in first.params["text"]
    assert html.unescape(second.params["text"]).startswith("✏️ Korrigiert am ")
    assert "B7" not in second.params["text"], "nothing of the old text stands"
