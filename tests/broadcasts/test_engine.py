"""The engine end to end in virtual time: fan-out, pacing, priority, outcomes, cancel, pause, images."""

from __future__ import annotations

import itertools
from collections import Counter

import aiohttp

from bot.assembly import build_engine, limiter_for
from bot.storage.client import Storage
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from broadcasts.model import ALL_TOPICS, Priority, State
from broadcasts.progress import ChannelProgress
from broadcasts.timeline import Timeline
from city.values import Channel, Resident
from tests.broadcasts.conftest import CITY, Rig
from tests.conftest import TOKEN
from tests.fakes.telegram_api import FakeTelegram


def windows_hold(times: list[float], limit: int, window: float = 1.0) -> bool:
    """No sliding window of `window` seconds holds more than `limit` of the timestamps."""
    times = sorted(times)
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        if end - start + 1 > limit:
            return False
    return True


async def test_every_subscriber_gets_the_message_once(rig: Rig) -> None:
    chats = range(1000, 1050)
    await rig.subscribe(chats)
    await rig.subscribe([2000], topic="kultur")
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    assert sorted(int(c.chat_id or 0) for c in rig.tg.sent(None, "sendMessage")) == list(chats)
    assert rig.delivered(1000) == ["📣 Verkehr\n\nSperrung der B7"]
    progress = await rig.engine.progress(broadcast.id)
    assert progress.state is State.DONE
    assert progress.channels == {Channel.TELEGRAM: ChannelProgress(total=50, sent=50)}
    assert progress.finished_at is not None


async def test_a_resident_in_two_topics_gets_one_message(rig: Rig) -> None:
    await rig.subscribe([1, 2, 3], topic="verkehr")
    await rig.subscribe([2, 3, 4], topic="baustellen")
    broadcast = await rig.broadcast(topics=("verkehr", "baustellen"))
    await rig.send(broadcast.id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == ["1", "2", "3", "4"]
    assert rig.delivered(2) == ["📣 Verkehr, Baustellen\n\nSperrung der B7"]


async def test_all_topics_and_languages(rig: Rig) -> None:
    await rig.subscribe([1], topic="kultur")
    await rig.subscribe([2], topic="sternwarte", language="en")
    broadcast = await rig.broadcast(
        topics=(ALL_TOPICS,), text="Rathaus geschlossen", text_en="City hall closed", priority=Priority.ALERT
    )
    await rig.send(broadcast.id)
    await rig.drain()
    assert rig.delivered(1) == ["⚠️ Eilmeldung Alle Themen\n\nRathaus geschlossen"]
    assert rig.delivered(2) == ["⚠️ Urgent alert All topics\n\nCity hall closed"]


async def test_pacing_holds_telegrams_limit_in_the_stand_ins_own_timestamps(rig: Rig) -> None:
    await rig.subscribe(range(1, 121))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    started = rig.clock().timestamp()
    await rig.drain()
    times = [c.at for c in rig.tg.sent(None, "sendMessage")]
    assert len(times) == 120
    assert windows_hold(times, 30)
    elapsed = max(times) - started
    # 120 messages at 0.99 x 30/s take 119 intervals of 1/29.7 s.
    assert 119 / 29.7 - 0.05 <= elapsed <= 119 / 29.7 + 0.2
    assert rig.tg.too_many == 0


async def test_an_alert_overtakes_a_running_digest(rig: Rig) -> None:
    await rig.subscribe(range(1, 301), daily=True)
    await rig.subscribe(range(5001, 5004), topic="feuerwehr")
    since = rig.clock()
    rig.clock.advance(minutes=5)
    news = await rig.broadcast(text="Sperrung der B7")
    await Timeline(rig.redis, rig.keys, rig.store).record(news, ["verkehr"], rig.clock())
    digest = await rig.broadcast(
        text="Tagesüberblick", priority=Priority.DIGEST, since=since, scheduled_for=rig.clock()
    )
    await rig.send(digest.id)
    await rig.drain(until=lambda: _sent_at_least(rig, 30))
    alert_at = rig.clock().timestamp()
    alert = await rig.broadcast(topics=("feuerwehr",), text="Großbrand", priority=Priority.ALERT)
    await rig.send(alert.id)
    await rig.drain(until=lambda: _alerts_sent(rig, 3))
    alerts = [c for c in rig.tg.sent(None, "sendMessage") if "Großbrand" in c.params["text"]]
    assert alerts[0].at - alert_at < 1.0
    digests_meanwhile = len(rig.tg.sent(None, "sendMessage")) - 30 - 3
    # At most what the digest had reserved (0.25 s at 30/s) went out before the alert.
    assert digests_meanwhile <= 8
    await rig.drain()
    assert len(rig.tg.sent(None, "sendMessage")) == 303
    assert sum("Sperrung der B7" in text for text in rig.delivered()) == 300, "each digest lists the news"


async def _alerts_sent(rig: Rig, count: int) -> bool:
    return len([c for c in rig.tg.sent(None, "sendMessage") if "Großbrand" in c.params["text"]]) >= count


async def _sent_at_least(rig: Rig, count: int) -> bool:
    return len(rig.tg.sent(None, "sendMessage")) >= count


async def test_blocked_migrated_and_vanished_chats(rig: Rig) -> None:
    await rig.subscribe([10, 11, 12, 13, -100500])
    rig.tg.block(11)
    rig.tg.fail_chat_not_found(12)
    rig.tg.fail(
        "sendMessage", chat_id=13, status=400, description="Bad Request: message text is empty", times=-1
    )
    rig.tg.fail_migrated(-100500, -1009999)
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    assert rig.delivered(10)
    assert rig.delivered(-1009999)
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=5, sent=2, failed=2, blocked=1)
    blocked = await rig.residents.get(Resident(Channel.TELEGRAM, "11"))
    assert blocked is not None
    assert blocked.inactive_since is not None
    migrated = await rig.residents.get(Resident(Channel.TELEGRAM, "-1009999"))
    assert migrated is not None
    assert migrated.topics == {"verkehr"}
    assert await rig.residents.get(Resident(Channel.TELEGRAM, "-100500")) is None
    audience = await rig.redis.smembers(rig.keys.audience("verkehr", Channel.TELEGRAM))
    assert audience == {"10", "12", "13", "-1009999"}

    # "Chat not found" a second time within 24 h retires the subscriber.
    rig.clock.advance(hours=2)
    again = await rig.broadcast(text="Zweite Meldung")
    await rig.send(again.id)
    await rig.drain()
    progress = (await rig.engine.progress(again.id)).channels[Channel.TELEGRAM]
    assert progress.retired == 1
    assert await rig.residents.get(Resident(Channel.TELEGRAM, "12")) is None


async def test_429_and_5xx_are_retried_without_losing_anything(rig: Rig) -> None:
    await rig.subscribe(range(1, 21))
    rig.tg.fail_retry_after("sendMessage", retry_after=3, times=4)
    rig.tg.fail_server_error("sendMessage", times=5)
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    ok = rig.tg.sent(None, "sendMessage")
    assert sorted(int(c.chat_id or 0) for c in ok) == list(range(1, 21))
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress == ChannelProgress(total=20, sent=20)
    # Each 429 waited what Telegram asked; no retry storm: 9 refusals, 9 retries.
    assert len([c for c in rig.tg.calls if c.method == "sendMessage"]) == 29


async def test_cancel_during_sending_drops_the_rest(rig: Rig) -> None:
    await rig.subscribe(range(1, 101))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain(until=lambda: _sent_at_least(rig, 10))
    assert await rig.engine.cancel(broadcast.id) is State.SENDING
    at_cancel = len(rig.tg.sent(None, "sendMessage"))
    for _ in range(20):
        await rig.engine.senders[0].step()
        await rig.sleeps(1)
    # Sends already reserved and on their way (at most 0.25 s worth at 30/s) still land; nothing after.
    assert at_cancel <= len(rig.tg.sent(None, "sendMessage")) <= at_cancel + 8
    assert (await rig.engine.progress(broadcast.id)).state is State.CANCELLED
    leftovers = [k async for k in rig.redis.scan_iter(match=f"{rig.keys.broadcast(broadcast.id)}:*")]
    # The message ids of those who got it stay: what went out may still be corrected or retracted.
    ids = rig.keys.broadcast_message_ids(broadcast.id, Channel.TELEGRAM)
    assert sorted(leftovers) == sorted([ids, rig.keys.broadcast_progress(broadcast.id)])
    assert await rig.redis.hlen(ids) == len(rig.tg.sent(None, "sendMessage"))
    progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
    assert progress.sent == len(rig.tg.sent(None, "sendMessage")), "the summary counts what landed"


async def test_pause_and_resume(rig: Rig) -> None:
    await rig.subscribe(range(1, 31))
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain(until=lambda: _sent_at_least(rig, 5))
    await rig.engine.pause(broadcast.id)
    at_pause = len(rig.tg.sent(None, "sendMessage"))
    for _ in range(10):
        await rig.engine.senders[0].step()
        await rig.sleeps(1)
    paused = len(rig.tg.sent(None, "sendMessage"))
    assert at_pause <= paused <= at_pause + 8
    for _ in range(5):
        await rig.engine.senders[0].step()
        await rig.sleeps(1)
    assert len(rig.tg.sent(None, "sendMessage")) == paused, "nothing goes out while paused"
    await rig.engine.resume(broadcast.id)
    await rig.drain()
    assert len(rig.tg.sent(None, "sendMessage")) == 30


async def test_a_paused_broadcast_with_retries_due_leaves_the_sender_idle(rig: Rig) -> None:
    await rig.subscribe(range(1, 11))
    rig.tg.fail_retry_after("sendMessage", retry_after=2, times=3)
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain(until=lambda: _sent_at_least(rig, 7))
    await rig.engine.pause(broadcast.id)
    rig.clock.advance(seconds=5)  # the three refused ones are due again, but their broadcast is paused
    assert await rig.engine.senders[0].step() is None, "nothing to do: the sender idles, it does not spin"
    assert len(rig.tg.sent(None, "sendMessage")) == 7
    await rig.engine.resume(broadcast.id)
    await rig.drain()
    assert sorted(str(c.chat_id) for c in rig.tg.sent(None, "sendMessage")) == sorted(
        str(n) for n in range(1, 11)
    )


async def test_an_image_is_uploaded_once_then_reused(rig: Rig) -> None:
    image = b"\x89PNG\r\n\x1a\n fake image"
    await rig.subscribe(range(1, 6))
    broadcast = await rig.broadcast(image=image, links=("https://beispielstadt.de/b7",))
    await rig.send(broadcast.id)
    await rig.drain()
    photos = rig.tg.sent(None, "sendPhoto")
    assert len(photos) == 5
    uploads = [c for c in photos if not isinstance(c.params["photo"], str)]
    assert len(uploads) == 1
    assert {c.params["photo"] for c in photos if c not in uploads} == {next(iter(rig.tg.files))}
    assert "🔗 https://beispielstadt.de/b7" in photos[-1].params["caption"]


async def test_a_topic_mirrors_to_its_public_channel(rig: Rig) -> None:
    # The example city mirrors Feuerwehr & Krisen to @beispielstadt_warnungen.
    rig.tg.public_channels["@beispielstadt_warnungen"] = -1001234567890
    await rig.subscribe([1, 2], topic="feuerwehr")
    broadcast = await rig.broadcast(topics=("feuerwehr",), text="Unwetterwarnung", priority=Priority.ALERT)
    await rig.send(broadcast.id)
    await rig.drain()
    assert rig.delivered("@beispielstadt_warnungen") == ["⚠️ Eilmeldung Feuerwehr & Krisen\n\nUnwetterwarnung"]
    assert (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM].sent == 3


async def test_two_senders_share_one_queue_without_sending_twice(rig: Rig) -> None:
    await rig.subscribe(range(1, 201))
    other = rig.make_engine("worker-b")
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    engines = itertools.cycle([rig.engine, other])
    for _ in range(5000):
        if not await rig.redis.zcard(rig.keys.active(Channel.TELEGRAM)):
            break
        wait = await next(engines).senders[0].step()
        if wait is not None and wait > 0:
            await rig.sleeps(min(wait, 0.05))
    chats = [c.chat_id for c in rig.tg.sent(None, "sendMessage")]
    assert len(chats) == 200
    assert len(set(chats)) == 200


async def test_a_dead_senders_claims_are_reclaimed_and_maybe_sent_ones_counted(rig: Rig) -> None:
    await rig.subscribe(range(1, 41))
    # worker-a talks to a Telegram that never answers: it dies with its sends on the wire.
    async with FakeTelegram(token=TOKEN) as silent, aiohttp.ClientSession() as session:
        silent.hold("sendMessage")
        storage = Storage(rig.redis, rig.keys, None)
        client = TelegramChannel(TelegramAPI(session, silent.url, TOKEN), 30)
        doomed = build_engine(
            storage=storage,
            city=lambda: CITY,
            channels=[(client, limiter_for(storage, client, "123456", 0.01))],
            care=rig.residents,
            hasher=IdHasher(b"test-secret-of-sixteen-bytes"),
            worker="worker-a",
            clock=rig.clock,
            sleep=rig.sleeps,
        )
        survivor = rig.make_engine("worker-b")
        await doomed.supervise_once()  # its last heartbeat
        broadcast = await rig.broadcast()
        await rig.send(broadcast.id)
        await doomed.senders[0].step()
        await silent.wait_for(lambda t: len(t.held) > 0)
        on_the_wire = len(silent.held)
        marked = await rig.redis.scard(rig.keys.broadcast_sending(broadcast.id, Channel.TELEGRAM))
        # A reserved batch is marked before its sends leave one by one on their reserved times.
        assert 0 < on_the_wire <= marked

        rig.clock.advance(seconds=20)  # worker-a's heartbeat is now older than DEAD_AFTER_S
        await survivor.supervise_once()
        await rig.drain(survivor)
        per_chat = Counter(c.chat_id for c in rig.tg.sent(None, "sendMessage"))
        assert set(per_chat) == {str(n) for n in range(1, 41)}, "the survivor sent everything"
        progress = (await rig.engine.progress(broadcast.id)).channels[Channel.TELEGRAM]
        assert progress.maybe_duplicate == marked, "what may have been sent is counted as maybe sent twice"
        assert progress.sent == 40
        # worker-a's sends still hang on the wire: let them end while the test's Redis client is open, or
        # their settling would open connections nobody closes.
        silent.release()
        await doomed.senders[0].hand_back()
