"""WhatsApp messages are as old as their `timestamp` says: a stale staff command is skipped and its author
told, a resident's message older than a day is dropped without a word."""

from __future__ import annotations

from datetime import timedelta

from tests.bot.whatsapp.conftest import RESIDENT, Webhook, Write
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph

KULTURAMT = "4915100000005"  # editor for kultur, on WhatsApp only


async def test_a_stale_staff_command_is_skipped_and_its_author_told(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock
) -> None:
    written = (clock() - timedelta(minutes=7)).timestamp()
    graph.inbound(KULTURAMT, written)
    assert await webhook.post(messages=[wh.text(KULTURAMT, "MELDUNG kultur Lesung heute", at=written)]) == 200
    await webhook.settled()
    [skipped] = graph.texts(KULTURAMT)
    assert skipped.startswith(
        "Nicht ausgeführt: „MELDUNG kultur Lesung heute“. Die Nachricht ist 7 Minuten alt"
    )


async def test_a_resident_message_older_than_a_day_is_dropped(
    webhook: Webhook, write: Write, graph: FakeGraph, clock: ManualClock
) -> None:
    written = (clock() - timedelta(hours=26)).timestamp()
    assert await webhook.post(messages=[wh.text(RESIDENT, "HILFE", at=written)]) == 200
    await webhook.settled()
    assert graph.texts(RESIDENT) == []
    answers = await write("DATENSCHUTZ")
    assert answers[0].startswith("Datenschutz"), "answered from then on, the old message never"
