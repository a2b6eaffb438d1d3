"""Staff on WhatsApp: the same desk commands; notices outside a person's window go as the staff template."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from bot.service import Service
from broadcasts.model import Broadcast, Priority, State
from handlers.values import Channel, Resident
from tests.bot.whatsapp.conftest import Webhook
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram

KULTURAMT = "4915100000005"  # editor for kultur, on WhatsApp only
FREIGABE = "4915100000003"  # approver, on Telegram (100003) and WhatsApp
LEITUNG = "4915100000001"  # admin, on Telegram (100001) and WhatsApp


async def test_a_whatsapp_editor_drafts_and_submits_and_approvers_are_told_on_both_messengers(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)

        async def say(text: str) -> list[str]:
            before = len(graph.sent(KULTURAMT))
            graph.inbound(KULTURAMT)
            assert await hook.post(messages=[wh.text(KULTURAMT, text, at=clock().timestamp())]) == 200
            await hook.settled()
            return [call.text for call in graph.sent(KULTURAMT)[before:]]

        graph.inbound(LEITUNG)  # the admin wrote recently: free-form reaches them
        assert await hook.post(messages=[wh.text(LEITUNG, "hilfe", at=clock().timestamp())]) == 200
        await hook.settled()
        preview = await say("MELDUNG kultur Sommerkonzert im Stadtpark am Samstag.")
        assert any("Sommerkonzert" in text for text in preview)
        submitted = await say("EINREICHEN 1")
        assert any("ist zur Freigabe eingereicht" in text for text in submitted)

    await tg.wait_for(lambda t: bool(t.texts("100003")) and bool(t.texts("100001")))
    (template,) = graph.sent(FREIGABE)
    assert template.kind == "template"
    assert template.body["template"]["name"] == "stadtfunk_redaktion"
    assert "Sommerkonzert" in template.text
    assert "\n" not in template.text
    assert any(call.kind == "interactive" and "Sommerkonzert" in call.text for call in graph.sent(LEITUNG))
    assert graph.refusals == {}


async def test_the_preview_counts_whatsapp_recipients_who_need_the_template(
    both: Service, graph: FakeGraph, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.services is not None
    residents = both.services.residents
    followers = ["4915100008881", "4915100008882", "4915100008883"]
    for chat in followers:
        resident = Resident(Channel.WHATSAPP, chat)
        await residents.consent(resident, language="de", version="2026-11", at=clock())
        record = await residents.get(resident)
        assert record is not None
        await residents.subscribe(record, "kultur", clock())
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        for chat in (followers[0], KULTURAMT):  # one follower wrote today: free-form reaches them
            graph.inbound(chat)
            assert await hook.post(messages=[wh.text(chat, "hilfe", at=clock().timestamp())]) == 200
        await hook.settled()
        graph.inbound(KULTURAMT)
        draft = "MELDUNG kultur Lesung in der Stadtbibliothek."
        assert await hook.post(messages=[wh.text(KULTURAMT, draft, at=clock().timestamp())]) == 200
        await hook.settled()
    preview = " ".join(graph.texts(KULTURAMT))
    assert "3 Whatsapp" in preview  # the desk names channels by their enum names
    assert "WhatsApp-Vorlagen nötig: 2." in preview


async def test_an_author_on_whatsapp_gets_milestones_and_a_summary_instead_of_an_edited_bar(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.services is not None
    assert both.engine is not None
    assert both.reporter is not None
    readers = ["555001", "555002", "555003"]
    for chat in readers:
        resident = Resident(Channel.TELEGRAM, chat)
        await both.services.residents.consent(resident, language="de", version="2026-11", at=clock())
        record = await both.services.residents.get(resident)
        assert record is not None
        await both.services.residents.subscribe(record, "kultur", clock())
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        graph.inbound(KULTURAMT)  # wrote today: free-form reaches them
        assert await hook.post(messages=[wh.text(KULTURAMT, "hilfe", at=clock().timestamp())]) == 200
        await hook.settled()
    before = len(graph.sent(KULTURAMT))
    store = both.engine.store
    draft = Broadcast(
        id="", topics=("kultur",), text_de="Lesung in der Stadtbibliothek.", author="kulturamt",
        created_at=clock(), priority=Priority.NEWS,
    )  # fmt: skip
    created = await store.create(draft)
    await store.transition(created.id, State.APPROVED)
    tg.hold("sendMessage")  # the residents' messages stay on the wire while the author is told
    await both.engine.enqueue(created.id)
    await tg.wait_for(lambda t: len(t.held) == len(readers))
    await both.reporter.tick()
    await both.reporter.tick()  # nothing new reached: no second message
    tg.release()
    async with asyncio.timeout(10):
        while (await both.engine.progress(created.id)).state is not State.DONE:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await both.reporter.tick()
    await both.reporter.tick()  # summed up once
    started, summary = graph.texts(KULTURAMT)[before:]
    assert started.startswith(f"#{created.id} ")
    assert "▱▱▱▱▱▱▱▱▱▱ 0 %" in started
    assert summary.startswith(
        f"#{created.id} gesendet: 3 von 3 zugestellt, 0 fehlgeschlagen, 0 blockiert, 0 ausgeschieden"
    )
    assert not tg.texts(KULTURAMT)  # WhatsApp only: nothing tried on Telegram
