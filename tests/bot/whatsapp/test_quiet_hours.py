"""Quiet hours on WhatsApp: the approver reads when news approved at night will arrive, and sends it at once
with the typed twin of "Trotzdem jetzt senden"; the audit log records who did, from WhatsApp."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from tests.bot.test_staff_flow import until_state
from tests.bot.whatsapp.conftest import Webhook
from tests.bot.whatsapp.test_staff import FREIGABE, KULTURAMT, kultur_readers
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram


async def test_an_approver_on_whatsapp_sends_held_news_with_the_typed_command(
    both: Service, graph: FakeGraph, tg: FakeTelegram, clock: ManualClock, redis: aioredis.Redis
) -> None:
    readers = await kultur_readers(both)
    clock.advance(hours=13)  # 23:00, in the quiet hours
    async with aiohttp.ClientSession() as session:
        hook = Webhook(session, both, redis)

        async def say(number: str, text: str) -> list[str]:
            before = len(graph.sent(number))
            graph.inbound(number)
            assert await hook.post(messages=[wh.text(number, text, at=clock().timestamp())]) == 200
            await hook.settled()
            return graph.texts(number)[before:]

        await say(KULTURAMT, "MELDUNG kultur Lesung heute Nacht in der Stadtbibliothek.")
        await say(KULTURAMT, "EINREICHEN 1")
        shown = " ".join(await say(FREIGABE, "FREIGEBEN 1"))
        assert "🌙 Jetzt ist Ruhezeit (22:00–07:00 Uhr)" in shown
        assert "erst um 24.11.2026 07:00" in shown
        version = re.search(r"Fassung ([0-9a-f]{12})", shown)
        assert version is not None
        held = " ".join(await say(FREIGABE, f"FREIGEBEN 1 {version.group(1)}"))
        assert "#1 ist freigegeben und zurückgehalten" in held
        assert "Trotzdem jetzt senden: FREIGEBEN 1 · Abbrechen: /abbrechen 1" in held
        assert not any("Lesung" in text for chat in readers for text in tg.texts(chat))

        assert await say(FREIGABE, "FREIGEBEN 1") == ["#1 wird jetzt gesendet."]
    await until_state(both, "1", "done")
    for chat in readers:
        assert any("Lesung" in text for text in tg.texts(chat))
    assert both.storage is not None
    entries = [
        (entry.who, entry.action, entry.via)
        async for entry in audit_log(both.storage, both.settings).since(datetime(2000, 1, 1, tzinfo=UTC))
        if entry.broadcast_id == "1"
    ]
    assert entries[-1] == ("presse-freigabe", "release", "whatsapp"), entries
