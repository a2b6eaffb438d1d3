"""A follow-up on WhatsApp quotes what each recipient got: free-form inside the window, a template outside."""

from __future__ import annotations

from bot.service import Service
from city.values import Channel
from tests.bot.whatsapp.conftest import subscribe
from tests.bot.whatsapp.test_broadcast import INSIDE, OUTSIDE, finished, open_window, send
from tests.conftest import ManualClock
from tests.fakes.graph_api import FakeGraph


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
