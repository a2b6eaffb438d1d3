"""Broadcasts on WhatsApp through the running service: both messengers in one run, the 24-hour window,
Meta's error codes, delivery statuses, and pacing under the number's rate and the pair rate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bot.assembly import build_engine, limiter_for
from bot.service import Service
from bot.settings import DEFAULT_CITY_FILE
from bot.storage.client import Storage
from bot.storage.idhash import IdHasher
from bot.whatsapp.api import WhatsAppAPI
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.marks import WhatsAppMarks
from broadcasts.model import Broadcast, Priority, State
from broadcasts.progress import ChannelProgress
from city.config import load_city
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident
from tests.bot.conftest import SETTLE_TURNS, Sleeps
from tests.bot.whatsapp.conftest import ACCESS_TOKEN, NUMBER_ID, Webhook, subscribe
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram

INSIDE = "4915100001111"  # wrote an hour ago: inside the window
OUTSIDE = "4915100002222"  # never wrote since subscribing two days ago
ENGLISH = "4915100003333"
CITY = load_city(DEFAULT_CITY_FILE)


async def send(
    service: Service, priority: Priority = Priority.NEWS, image: bytes | None = None, **fields: Any
) -> Broadcast:
    assert service.engine is not None
    store = service.engine.store
    draft = Broadcast(
        id="", topics=("verkehr",), text_de="Die B7 ist gesperrt.\nUmleitung über die Ringstraße.",
        author="presse-redaktion", created_at=service.clock(), priority=priority, **fields,
    )  # fmt: skip
    created = await store.create(draft, image=image)
    await store.approve(created.id, created.version, "presse-freigabe")
    await service.engine.enqueue(created.id)
    return created


async def finished(service: Service, broadcast_id: str, graph: FakeGraph) -> dict[Channel, ChannelProgress]:
    assert service.engine is not None
    engine = service.engine

    async def done() -> bool:
        return (await engine.progress(broadcast_id)).state is State.DONE

    await until(done)
    return (await engine.progress(broadcast_id)).channels


async def until(condition: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def open_window(graph: FakeGraph, clock: ManualClock, service: Service, wa_id: str) -> None:
    """The resident writes (through the webhook, as at Meta); their window opens on both sides."""
    graph.inbound(wa_id)
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, service, _redis(service))
        assert await hook.post(messages=[wh.text(wa_id, "danke", at=clock().timestamp())]) == 200
        await hook.settled()


def _redis(service: Service) -> RedisClient:
    assert service.storage is not None
    return service.storage.redis


async def test_one_broadcast_reaches_telegram_and_whatsapp_in_the_same_run_with_templates_outside_the_window(
    both: Service, tg: FakeTelegram, graph: FakeGraph, clock: ManualClock
) -> None:
    await subscribe(both, Channel.TELEGRAM, ["1001", "1002", "1003"])
    await subscribe(both, Channel.WHATSAPP, [INSIDE, OUTSIDE])
    await subscribe(both, Channel.WHATSAPP, [ENGLISH], language="en")
    clock.advance(hours=48)
    await open_window(graph, clock, both, INSIDE)
    clock.advance(hours=1)
    before = len(graph.sent(INSIDE))
    broadcast = await send(both, text_en="The B7 is closed.")
    channels = await finished(both, broadcast.id, graph)
    assert channels[Channel.TELEGRAM] == ChannelProgress(total=3, sent=3)
    assert channels[Channel.WHATSAPP] == ChannelProgress(total=3, sent=3)
    telegram = sorted(c.chat_id or "" for c in tg.sent(None, "sendMessage"))
    assert [chat for chat in telegram if chat in {"1001", "1002", "1003"}] == ["1001", "1002", "1003"]

    (free,) = graph.sent(INSIDE)[before:]
    assert free.kind == "text"
    assert free.text == "📣 Verkehr\n\nDie B7 ist gesperrt.\nUmleitung über die Ringstraße."
    assert free.body["biz_opaque_callback_data"] == broadcast.id
    (template,) = graph.sent(OUTSIDE)
    assert template.body["template"]["name"] == "stadtfunk_nachricht"
    assert template.body["template"]["language"] == {"code": "de"}
    assert template.text == "📣 Verkehr · Die B7 ist gesperrt. · Umleitung über die Ringstraße."
    (english,) = graph.sent(ENGLISH)
    assert english.body["template"]["language"] == {"code": "en"}
    assert "The B7 is closed." in english.text
    assert graph.refusals == {}


async def test_an_alert_outside_the_window_uses_the_alert_template(both: Service, graph: FakeGraph) -> None:
    await subscribe(both, Channel.WHATSAPP, [OUTSIDE])
    broadcast = await send(both, priority=Priority.ALERT)
    await finished(both, broadcast.id, graph)
    (template,) = graph.sent(OUTSIDE)
    assert template.body["template"]["name"] == "stadtfunk_warnung"


async def test_131047_although_our_mark_says_inside_resends_as_template(
    both: Service, graph: FakeGraph, clock: ManualClock
) -> None:
    await subscribe(both, Channel.WHATSAPP, [INSIDE])
    await open_window(graph, clock, both, INSIDE)
    graph.inbound(INSIDE, at=clock().timestamp() - 25 * 3600)  # Meta's idea of the window differs
    broadcast = await send(both)
    channels = await finished(both, broadcast.id, graph)
    assert channels[Channel.WHATSAPP] == ChannelProgress(total=1, sent=1)
    assert graph.refusals == {131047: 1}
    assert graph.sent(INSIDE)[-1].kind == "template"


async def test_error_codes_block_suppress_retry_and_record(both: Service, graph: FakeGraph) -> None:
    chats = [f"49151000090{n}" for n in range(6)]
    await subscribe(both, Channel.WHATSAPP, chats)
    graph.fail(131026, to=chats[0], times=-1)
    graph.fail(131049, to=chats[1], times=-1)
    graph.fail(131050, to=chats[2], times=-1)
    graph.fail(130429, to=chats[3], times=1)
    graph.fail(131056, to=chats[4], times=1)
    graph.fail(132001, to=chats[5], times=-1)  # template does not exist: recorded, not retried
    broadcast = await send(both)
    channels = await finished(both, broadcast.id, graph)
    assert channels[Channel.WHATSAPP] == ChannelProgress(total=6, sent=2, failed=1, blocked=1, suppressed=2)
    assert [len(graph.sent(chat)) for chat in chats] == [0, 0, 0, 1, 1, 0]
    assert both.services is not None
    blocked = await both.services.residents.get(Resident(Channel.WHATSAPP, chats[0]))
    assert blocked is not None
    assert blocked.inactive_since is not None
    assert await both.services.residents.audience_size("verkehr", Channel.WHATSAPP) == 5


async def test_131048_pauses_the_broadcast_and_tells_its_author(
    both: Service, graph: FakeGraph, tg: FakeTelegram
) -> None:
    await subscribe(both, Channel.WHATSAPP, [OUTSIDE])
    graph.fail(131048, to=OUTSIDE, times=-1)
    broadcast = await send(both)
    await tg.wait_for(lambda t: any("131048" in text for text in t.texts("100002")))
    assert both.engine is not None
    assert (await both.engine.progress(broadcast.id)).state is State.PAUSED
    notices = [text for text in tg.texts("100002") if "131048" in text]
    assert len(notices) == 1
    assert f"#{broadcast.id}" in notices[0]


async def test_131048_in_a_later_status_pauses_the_broadcast_and_tells_its_author_once(
    both: Service, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    """Meta may also report the spam limit later, as a failed status of a message it had accepted."""
    assert both.engine is not None
    store = both.engine.store
    draft = Broadcast(id="", topics=("verkehr",), text_de="B7", author="presse-redaktion", created_at=clock())
    broadcast = await store.create(draft)
    for state in (State.APPROVED, State.QUEUED, State.SENDING):
        await store.transition(broadcast.id, state)
    at = clock().timestamp()
    failed = [
        wh.status(wh.wamid(), "failed", chat, at=at, tag=broadcast.id, errors=[wh.error(131048)])
        for chat in (INSIDE, OUTSIDE)
    ]
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        assert await hook.post(statuses=failed) == 200
        await hook.settled()
    await tg.wait_for(lambda t: any("131048" in text for text in t.texts("100002")))
    assert (await both.engine.progress(broadcast.id)).state is State.PAUSED
    notices = [text for text in tg.texts("100002") if "131048" in text]
    assert len(notices) == 1
    assert f"#{broadcast.id}" in notices[0]


async def test_statuses_count_delivered_read_and_failed_once_in_aggregate(
    both: Service, graph: FakeGraph, clock: ManualClock, redis: aioredis.Redis
) -> None:
    await subscribe(both, Channel.WHATSAPP, [INSIDE, OUTSIDE])
    broadcast = await send(both)
    await finished(both, broadcast.id, graph)
    assert len(graph.sent(INSIDE)) == len(graph.sent(OUTSIDE)) == 1

    at = clock().timestamp()
    ids = {INSIDE: wh.wamid(), OUTSIDE: wh.wamid()}
    statuses = [
        wh.status(ids[INSIDE], "sent", INSIDE, at=at, tag=broadcast.id),
        wh.status(ids[INSIDE], "delivered", INSIDE, at=at, tag=broadcast.id),
        wh.status(ids[INSIDE], "delivered", INSIDE, at=at, tag=broadcast.id),
        wh.status(ids[INSIDE], "read", INSIDE, at=at, tag=broadcast.id),
        wh.status(ids[OUTSIDE], "failed", OUTSIDE, at=at, tag=broadcast.id, errors=[wh.error(131026)]),
        wh.status("wamid.other", "delivered", OUTSIDE, at=at, tag="no-such-broadcast"),
    ]
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        assert await hook.post(statuses=statuses) == 200
        assert await hook.post(statuses=statuses[1:3]) == 200  # Meta repeats itself
        await hook.settled()
    assert both.engine is not None
    progress = (await both.engine.progress(broadcast.id)).channels[Channel.WHATSAPP]
    assert (progress.delivered, progress.read, progress.undelivered) == (1, 1, 1)
    assert both.services is not None
    gone = await both.services.residents.get(Resident(Channel.WHATSAPP, OUTSIDE))
    assert gone is not None
    assert gone.inactive_since is not None


class Patient(Sleeps):
    """Virtual time that moves on only once the sends already started have reached the stand-in, so that
    its timestamps are the times the engine sent at, not shifted by a jump of the clock mid-request."""

    def __init__(self, clock: ManualClock, graph: FakeGraph, started: Callable[[], int]) -> None:
        super().__init__(clock)
        self._graph, self._started = graph, started

    async def __call__(self, seconds: float) -> None:
        for _ in range(SETTLE_TURNS):  # sends just spawned get going
            await asyncio.sleep(0)
        await self._graph.wait_for(lambda g: len(g.calls) >= self._started())
        await super().__call__(seconds)


class CountingAPI(WhatsAppAPI):
    started = 0

    async def send(self, body: bytes) -> str | None:
        self.started += 1
        return await super().send(body)


async def test_pacing_holds_the_numbers_rate_and_the_pair_rate(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """Stepped like the engine tests step Telegram (tests/broadcasts). The engine paces at 5/s; the
    stand-in refuses above 6 in any sliding second: in virtual time a send reserved for t may leave at the
    next step's time, beside its successor, which a strict 5 would count as a burst (and a pair bucket of
    one as a second message within 6 s)."""
    chats = [f"4915100007{n:03d}" for n in range(20)]
    keys = Keys(key_prefix)
    storage = Storage(redis, keys, None)
    residents = Residents(redis, keys, CITY.tz)
    hasher = IdHasher(b"test-secret-of-sixteen-bytes")
    async with (
        FakeGraph(token=ACCESS_TOKEN, rate=6, pair_burst=2, clock=lambda: clock().timestamp()) as strict,
        aiohttp.ClientSession() as session,
    ):
        api = CountingAPI(session, strict.url, "v26.0", NUMBER_ID, ACCESS_TOKEN)
        sleeps = Patient(clock, strict, lambda: api.started)
        client = WhatsAppChannel(api, 5, WhatsAppMarks(redis, keys, hasher), lambda: CITY, clock)
        limiter = limiter_for(storage, client, NUMBER_ID, 0.01)
        engine = build_engine(
            storage=storage, city=lambda: CITY, channels=[(client, limiter)], care=residents,
            hasher=hasher, worker="w", clock=clock, sleep=sleeps,
        )  # fmt: skip
        for chat in chats:
            resident = Resident(Channel.WHATSAPP, chat)
            await residents.consent(resident, language="de", version=CITY.privacy.version, at=clock())
            record = await residents.get(resident)
            assert record is not None
            await residents.subscribe(record, "verkehr", clock())
        for _ in range(2):
            draft = Broadcast(
                id="", topics=("verkehr",), text_de="B7", author="presse-redaktion", created_at=clock()
            )
            created = await engine.store.create(draft)
            await engine.store.approve(created.id, created.version, "presse-freigabe")
            await engine.enqueue(created.id)
        (sender,) = engine.senders
        for _ in range(5000):
            if len(strict.sent()) == 40 and not await redis.zcard(keys.active(Channel.WHATSAPP)):
                break
            wait = await sender.step()
            if wait is None:
                await asyncio.sleep(0)
            elif wait > 0:
                await sleeps(wait)
        await engine.stop()
    assert strict.refusals == {}
    times = sorted(call.at for call in strict.sent())
    assert len(times) == 40
    # 20 residents twice: the second round waits for each resident's 6 s, the number's rate throughout.
    assert times[-1] - times[0] >= 39 / 5 - 0.25
    for chat in chats:
        one, two = (call.at for call in strict.sent(chat))
        assert two - one >= 6.0 - 0.25  # the engine's 6 s per resident, less one reservation horizon


async def test_an_image_is_uploaded_once_and_sent_by_its_media_id_inside_the_window(
    both: Service, graph: FakeGraph, clock: ManualClock
) -> None:
    image = b"\x89PNG\r\n\x1a\n fake image"
    inside = ["4915100005551", "4915100005552", "4915100005553"]
    await subscribe(both, Channel.WHATSAPP, [*inside, OUTSIDE])
    for chat in inside:
        await open_window(graph, clock, both, chat)
    broadcast = await send(both, image=image)
    channels = await finished(both, broadcast.id, graph)
    assert channels[Channel.WHATSAPP] == ChannelProgress(total=4, sent=4)
    uploads = [call for call in graph.calls if call.path == "media"]
    assert len(uploads) == 1
    (media_id,) = graph.media
    assert graph.media[media_id] == ("image/png", image)
    for chat in inside:
        (picture,) = graph.sent(chat, kind="image")
        assert picture.body["image"]["id"] == media_id
        assert picture.text.startswith("📣 Verkehr")
    assert graph.sent(OUTSIDE)[-1].kind == "template"
