"""Staff on WhatsApp: the same desk commands; notices outside a person's window go as the staff template."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from broadcasts.model import Broadcast, Priority, State
from city.values import Channel
from tests.bot.test_staff_flow import until_state
from tests.bot.whatsapp.conftest import Webhook, subscribe
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram

KULTURAMT = "4915100000005"  # editor for kultur, on WhatsApp only
FREIGABE = "4915100000003"  # approver, on Telegram (100003) and WhatsApp
LEITUNG = "4915100000001"  # admin, on Telegram (100001) and WhatsApp
RESIDENT_NUMBER = "4915100007777"  # not staff
UNKNOWN = "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit HILFE."


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
    followers = ["4915100008881", "4915100008882", "4915100008883"]
    await subscribe(both, Channel.WHATSAPP, followers, topic="kultur")
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
    assert "3 WhatsApp" in preview
    assert "WhatsApp-Vorlagen nötig: 2." in preview


async def kultur_readers(service: Service) -> list[str]:
    """Three Telegram residents who follow kultur."""
    readers = ["555001", "555002", "555003"]
    await subscribe(service, Channel.TELEGRAM, readers, topic="kultur")
    return readers


async def approved_kultur_news(service: Service, clock: ManualClock) -> str:
    """News by the Kulturamt, approved and ready to send."""
    assert service.engine is not None
    store = service.engine.store
    draft = Broadcast(
        id="", topics=("kultur",), text_de="Lesung in der Stadtbibliothek.", author="kulturamt",
        created_at=clock(), priority=Priority.NEWS,
    )  # fmt: skip
    created = await store.create(draft)
    await store.approve(created.id, created.version, "presse-freigabe")
    return created.id


async def open_window(hook: Webhook, graph: FakeGraph, clock: ManualClock, number: str) -> None:
    graph.inbound(number)  # wrote today: free-form reaches them
    assert await hook.post(messages=[wh.text(number, "hilfe", at=clock().timestamp())]) == 200
    await hook.settled()


async def test_an_author_on_whatsapp_gets_milestones_and_a_summary_instead_of_an_edited_bar(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.engine is not None
    assert both.reporter is not None
    readers = await kultur_readers(both)
    async with aiohttp.ClientSession() as session:
        await open_window(Webhook(session, both, redis), graph, clock, KULTURAMT)
    before = len(graph.sent(KULTURAMT))
    broadcast_id = await approved_kultur_news(both, clock)
    tg.hold("sendMessage")  # the residents' messages stay on the wire while the author is told
    await both.engine.enqueue(broadcast_id)
    await tg.wait_for(lambda t: len(t.held) == len(readers))
    await both.reporter.tick()
    await both.reporter.tick()  # nothing new reached: no second message
    tg.release()
    await until_state(both, broadcast_id, "done")
    await both.reporter.tick()
    await both.reporter.tick()  # summed up once
    started, summary = graph.texts(KULTURAMT)[before:]
    assert started.startswith(f"#{broadcast_id} ")
    assert "▱▱▱▱▱▱▱▱▱▱ 0 %" in started
    assert summary.startswith(
        f"#{broadcast_id} gesendet: 3 von 3 zugestellt, 0 fehlgeschlagen, 0 blockiert, 0 ausgeschieden"
    )
    assert not tg.texts(KULTURAMT)  # WhatsApp only: nothing tried on Telegram


async def test_staff_pause_and_resume_a_sending_broadcast_from_the_chat(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.engine is not None
    readers = await kultur_readers(both)
    broadcast_id = await approved_kultur_news(both, clock)
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)

        async def say(number: str, text: str) -> list[str]:
            before = len(graph.sent(number))
            graph.inbound(number)
            assert await hook.post(messages=[wh.text(number, text, at=clock().timestamp())]) == 200
            await hook.settled()
            return graph.texts(number)[before:]

        for number in (KULTURAMT, RESIDENT_NUMBER):
            await open_window(hook, graph, clock, number)
        tg.hold("sendMessage")  # the first messages stay on the wire: the broadcast is still sending
        await both.engine.enqueue(broadcast_id)
        await tg.wait_for(lambda t: len(t.held) == len(readers))
        assert await say(RESIDENT_NUMBER, f"ANHALTEN {broadcast_id}") == [UNKNOWN]
        assert await say(KULTURAMT, f"ANHALTEN {broadcast_id}") == [
            f"#{broadcast_id} ist angehalten. Weiter mit /fortsetzen {broadcast_id}, "
            f"beenden mit /abbrechen {broadcast_id}."
        ]
        assert (await both.engine.progress(broadcast_id)).state is State.PAUSED
        tg.release()
        # Twice is named as the state it is in; nothing changes.
        assert await say(KULTURAMT, f"anhalten {broadcast_id}") == [
            f"#{broadcast_id} ist angehalten – das geht jetzt nicht mehr."
        ]
        assert (await both.engine.progress(broadcast_id)).state is State.PAUSED
        assert await say(KULTURAMT, f"FORTSETZEN {broadcast_id}") == [
            f"#{broadcast_id} wird fortgesetzt: Wer die Meldung noch nicht hat, bekommt sie jetzt."
        ]
    await until_state(both, broadcast_id, "done")
    for chat in readers:  # each once: the messages on the wire when paused were not sent again
        assert len([text for text in tg.texts(chat) if "Lesung" in text]) == 1
    assert both.storage is not None
    audit = audit_log(both.storage, both.settings)
    actions = [
        (entry.who, entry.action)
        async for entry in audit.since(datetime(2000, 1, 1, tzinfo=UTC))  # stream ids are wall-clock
        if entry.broadcast_id == broadcast_id
    ]
    assert ("kulturamt", "pause") in actions
    assert ("kulturamt", "resume") in actions


async def test_an_approvers_pause_holds_until_an_approver_resumes(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.engine is not None
    readers = await kultur_readers(both)
    broadcast_id = await approved_kultur_news(both, clock)
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)

        async def say(number: str, text: str) -> list[str]:
            before = len(graph.sent(number))
            graph.inbound(number)
            assert await hook.post(messages=[wh.text(number, text, at=clock().timestamp())]) == 200
            await hook.settled()
            return graph.texts(number)[before:]

        for number in (KULTURAMT, FREIGABE):
            await open_window(hook, graph, clock, number)
        tg.hold("sendMessage")  # the first messages stay on the wire: the broadcast is still sending
        await both.engine.enqueue(broadcast_id)
        await tg.wait_for(lambda t: len(t.held) == len(readers))
        assert await say(FREIGABE, f"ANHALTEN {broadcast_id}") == [
            f"#{broadcast_id} ist angehalten. Weiter geht es nur mit einer Person mit Freigaberecht: "
            f"/fortsetzen {broadcast_id}. Beenden: /abbrechen {broadcast_id}."
        ]
        tg.release()
        assert await say(KULTURAMT, f"FORTSETZEN {broadcast_id}") == [
            f"#{broadcast_id} hat eine Person mit Freigaberecht angehalten. Fortsetzen darf nur eine andere "
            "Person mit Freigaberecht für Kultur."
        ]
        assert (await both.engine.progress(broadcast_id)).state is State.PAUSED
        assert await say(FREIGABE, f"FORTSETZEN {broadcast_id}") == [
            f"#{broadcast_id} wird fortgesetzt: Wer die Meldung noch nicht hat, bekommt sie jetzt."
        ]
    await until_state(both, broadcast_id, "done")
    for chat in readers:
        assert len([text for text in tg.texts(chat) if "Lesung" in text]) == 1
    assert both.storage is not None
    pauses = [
        (entry.who, entry.via, entry.detail)
        async for entry in audit_log(both.storage, both.settings).since(datetime(2000, 1, 1, tzinfo=UTC))
        if entry.action == "pause"
    ]
    assert pauses == [("presse-freigabe", "whatsapp", "as approver")]


async def test_a_spam_limit_pause_stays_resumable_by_its_author(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    assert both.engine is not None
    readers = await kultur_readers(both)
    broadcast_id = await approved_kultur_news(both, clock)
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        await open_window(hook, graph, clock, KULTURAMT)
        tg.hold("sendMessage")
        await both.engine.enqueue(broadcast_id)
        await tg.wait_for(lambda t: len(t.held) == len(readers))
        notice = await both.engine.spam_limited(broadcast_id)  # what WhatsApp's 131048 does
        assert notice is not None
        tg.release()
        before = len(graph.sent(KULTURAMT))
        graph.inbound(KULTURAMT)
        resume = wh.text(KULTURAMT, f"FORTSETZEN {broadcast_id}", at=clock().timestamp())
        assert await hook.post(messages=[resume]) == 200
        await hook.settled()
    assert graph.texts(KULTURAMT)[before:] == [
        f"#{broadcast_id} wird fortgesetzt: Wer die Meldung noch nicht hat, bekommt sie jetzt."
    ]
    await until_state(both, broadcast_id, "done")


async def test_a_test_copy_of_another_departments_draft_is_refused_on_whatsapp(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    tg.push_message(100004, "/meldung feuerwehr Vertraulich: Großübung am Hafen")
    await tg.wait_for(lambda t: any("Entwurf #1" in text for text in t.texts(100004)))
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        await open_window(hook, graph, clock, KULTURAMT)
        before = len(graph.sent(KULTURAMT))
        graph.inbound(KULTURAMT)
        assert await hook.post(messages=[wh.text(KULTURAMT, "PROBE 1", at=clock().timestamp())]) == 200
        await hook.settled()
    assert graph.texts(KULTURAMT)[before:] == ["Dafür fehlt Ihnen die Berechtigung für: Feuerwehr & Krisen."]
    assert not any("Vertraulich" in text for text in graph.texts(KULTURAMT))


async def test_statistics_on_whatsapp_come_with_the_chart_as_an_image(
    both: Service, graph: FakeGraph, clock: ManualClock, redis: aioredis.Redis
) -> None:
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        graph.inbound(LEITUNG)
        assert await hook.post(messages=[wh.text(LEITUNG, "STATISTIK", at=clock().timestamp())]) == 200
        await hook.settled()
    await graph.wait_for(lambda g: bool(g.sent(LEITUNG, kind="image")))
    assert any(call.text.startswith("Statistik – nur Summen") for call in graph.sent(LEITUNG))
    [image] = graph.sent(LEITUNG, kind="image")
    mime_type, content = graph.media[image.body["image"]["id"]]
    assert mime_type == "image/png"
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert graph.refusals == {}
