"""A follow-up on WhatsApp quotes what each recipient got: free-form inside the window, a template outside."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis

from bot.service import Service
from broadcasts.model import Broadcast
from city.values import Channel
from tests.bot.whatsapp.conftest import Webhook, subscribe
from tests.bot.whatsapp.test_broadcast import INSIDE, OUTSIDE, finished, open_window, send
from tests.bot.whatsapp.test_staff import KULTURAMT
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram


async def test_a_follow_up_quotes_the_original_inside_and_outside_the_window(
    both: Service, graph: FakeGraph, clock: ManualClock
) -> None:
    await subscribe(both, Channel.WHATSAPP, [INSIDE, OUTSIDE])
    clock.advance(hours=48)
    await open_window(graph, clock, both, INSIDE)
    original = await send(both)
    await finished(both, original.id, graph)
    got = {chat: graph.sent(chat)[-1] for chat in (INSIDE, OUTSIDE)}
    follow_up = await send(both, follows=original.id)
    await finished(both, follow_up.id, graph)
    inside, outside = graph.sent(INSIDE)[-1], graph.sent(OUTSIDE)[-1]
    assert inside.kind == "text"
    assert "Die B7 ist gesperrt." in inside.text
    assert outside.kind == "template"
    assert "Die B7 ist gesperrt." in outside.text
    for chat, call in ((INSIDE, inside), (OUTSIDE, outside)):
        assert call.quoted is not None
        assert call.quoted == got[chat].wamid
    assert graph.refusals == {}


async def test_a_correction_typed_on_whatsapp_quotes_the_original_with_a_template_outside_the_window(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    await subscribe(both, Channel.WHATSAPP, [INSIDE, OUTSIDE], topic="kultur")
    clock.advance(hours=48)
    await open_window(graph, clock, both, INSIDE)
    assert both.engine is not None
    store = both.engine.store
    draft = Broadcast(
        id="", topics=("kultur",), text_de="Die B7 ist gesperrt.", author="kulturamt", created_at=clock()
    )
    original = await store.create(draft)
    await store.approve(original.id, original.version, "presse-freigabe")
    await both.engine.enqueue(original.id)
    await finished(both, original.id, graph)
    got = {chat: graph.sent(chat)[-1] for chat in (INSIDE, OUTSIDE)}
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)
        graph.inbound(KULTURAMT)
        typed = wh.text(KULTURAMT, "KORREKTUR 1 Die B8 ist gesperrt.", at=clock().timestamp())
        assert await hook.post(messages=[typed]) == 200
        await hook.settled()
    answers = [call.text for call in graph.sent(KULTURAMT)]
    assert any(text.startswith("✏️ Korrektur #2 zu Meldung #1 ist angelegt.") for text in answers)
    await tg.wait_for(
        lambda t: any("/freigeben 2 " in str(c.params.get("reply_markup")) for c in t.sent(100003))
    )
    command = next(
        b["callback_data"]
        for c in reversed(tg.sent(100003))
        for row in (c.params.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
        if b["callback_data"].startswith("/freigeben 2 ")
    )
    tg.push_callback(100003, command)
    await finished(both, "2", graph)
    inside, outside = graph.sent(INSIDE)[-1], graph.sent(OUTSIDE)[-1]
    assert inside.kind == "text"
    assert inside.text.startswith("✏️ Korrektur zu dieser Meldung (")
    assert inside.text.endswith("Die B8 ist gesperrt.")
    assert outside.kind == "template"
    assert "Korrektur zu dieser Meldung" in outside.text
    assert "Die B8 ist gesperrt." in outside.text
    for chat, call in ((INSIDE, inside), (OUTSIDE, outside)):
        assert call.quoted == got[chat].wamid
    assert not [call for call in graph.calls if "edit" in call.path]
    assert graph.refusals == {}
