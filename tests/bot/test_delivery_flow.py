"""Delivery modes, a new subscriber's first look, quiet hours and schedules, in the chat through the
service and the Bot API stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from tests.bot.conftest import Say, Sleeps, approve, button_command, message_buttons, press
from tests.bot.test_staff_flow import (
    APPROVER,
    EDITOR,
    RESIDENT,
    buttons,
    notified,
    subscribe,
    until,
    until_state,
)
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.traces import traces

# The test clock starts on Monday 23.11.2026 at 10:00 in Beispielstadt.


async def publish(say: Say, tg: FakeTelegram, number: int, text: str, topic: str = "verkehr") -> None:
    await say(EDITOR, f"/meldung {topic} {text}")
    await say(EDITOR, f"/einreichen {number}")
    await notified(tg, APPROVER, f"bittet um Freigabe von #{number}")
    await approve(say, tg, APPROVER, number)


async def test_residents_choose_every_item_at_once_or_a_daily_digest(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    assert buttons(tg, RESIDENT) == ["/zustellung sofort", "/zustellung taeglich"]
    [current] = await say(RESIDENT, "/zustellung")
    assert current.startswith("Zustellung: sofort. Eilmeldungen kommen immer sofort")
    [daily] = await say(RESIDENT, "/zustellung taeglich", button=True)
    assert daily.startswith("🗞️ Ab jetzt erhalten Sie einmal täglich um 07:00 Uhr einen Tagesüberblick")
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}") == set()
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}:daily") == {str(RESIDENT)}
    assert await say(RESIDENT, "/zustellung täglich") == [
        "Sie erhalten schon einen Tagesüberblick um 07:00 Uhr."
    ]
    mine, _ = await say(RESIDENT, "/meinedaten", replies=2)
    assert "Zustellung: täglich um 07:00 Uhr als Tagesüberblick" in mine
    [again] = await say(RESIDENT, "/zustellung quatsch")
    assert again.startswith("Zustellung: täglich um 07:00 Uhr als Tagesüberblick.")
    [now] = await say(RESIDENT, "/delivery now")
    assert now.startswith("⚡ Ab jetzt erhalten Sie jede Meldung sofort.")
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}") == {str(RESIDENT)}
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}:daily") == set()


async def test_switching_back_to_at_once_brings_what_the_next_digest_would_have_held(
    say: Say, tg: FakeTelegram
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(RESIDENT, "/zustellung taeglich")
    await publish(say, tg, 1, "Sperrung der B7")
    now, catch_up = await say(RESIDENT, "/zustellung sofort", replies=2)
    assert now.startswith("⚡ Ab jetzt erhalten Sie jede Meldung sofort.")
    assert catch_up.startswith("🗞️ Ihr Tagesüberblick · Beispielstadt · 23.11.2026")
    assert "Sperrung der B7" in catch_up


async def test_a_new_subscriber_sees_the_topics_last_three_items(say: Say, tg: FakeTelegram) -> None:
    for number, text in enumerate(["Erste", "Zweite", "Dritte", "Vierte"], 1):
        await publish(say, tg, number, f"{text} Meldung")
    await say(RESIDENT, "/start")
    await say(RESIDENT, "/zustimmen")
    subscribed, latest = await say(RESIDENT, "/abo verkehr", replies=2)
    assert subscribed.startswith("✅ Sie erhalten jetzt Meldungen zum Thema „Verkehr“.")
    assert latest.startswith("Zuletzt im Thema „Verkehr“:")
    assert latest.index("Zweite") < latest.index("Dritte") < latest.index("Vierte")
    assert "Erste" not in latest
    await say(RESIDENT + 1, "/start", language_code="en")
    await say(RESIDENT + 1, "/agree", language_code="en")
    nothing_yet = await say(RESIDENT + 1, "/subscribe kultur", language_code="en")
    # A topic with nothing published yet: no look back.
    assert nothing_yet == ["✅ You now receive news on “Culture”.\nDelivery: at once (change: /delivery)"]


async def test_news_approved_in_the_quiet_hours_waits_and_the_preview_says_so(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await subscribe(say, RESIDENT + 1, "verkehr")
    await say(RESIDENT + 1, "/zustellung taeglich")
    clock.advance(hours=13)  # 23:00
    [preview] = await say(EDITOR, "/meldung verkehr Nachtbaustelle A46")
    assert (
        "🌙 Das fällt in die Ruhezeit (22:00–07:00): Wer Meldungen sofort bekommt, erhält es erst um "
        in preview
    )
    assert "24.11.2026 07:00" in preview
    assert "🗞️ Dazu 1 im Tagesüberblick um 07:00 Uhr." in preview
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    request = tg.sent(APPROVER)[-1].params["text"]
    assert (
        "🌙 Jetzt ist Ruhezeit (22:00–07:00 Uhr): Nach Ihrer Freigabe erhalten es alle, die Meldungen "
        "sofort bekommen, erst um 24.11.2026 07:00." in request
    )
    [held] = await approve(say, tg, APPROVER, 1)
    assert held.startswith(
        "#1 ist freigegeben und zurückgehalten: Es ist Ruhezeit (22:00–07:00 Uhr). Wer Meldungen sofort "
        "bekommt, erhält sie um 24.11.2026 07:00"
    )
    assert "im Tagesüberblick steht sie schon." in held
    assert "Trotzdem jetzt senden: /freigeben 1 · Abbrechen: /abbrechen 1" in held
    await notified(
        tg, EDITOR, "Freigabe durch Sabine Wagner (Presseamt): #1 ist freigegeben und zurückgehalten"
    )
    [pending] = await say(EDITOR, "/offen")
    assert "#1 · zurückgehalten (Ruhezeit bis 24.11.2026 07:00) · Verkehr · Jonas Becker" in pending
    assert await say(EDITOR, "/status 1") == ["#1: zurückgehalten (Ruhezeit bis 24.11.2026 07:00)."]
    await service.upkeep_once()
    assert not any("Nachtbaustelle" in str(c.params.get("text")) for c in tg.sent(RESIDENT))
    clock.advance(hours=8)  # 07:00
    await service.upkeep_once()
    await tg.wait_for(lambda t: any("Nachtbaustelle" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    await tg.wait_for(
        lambda t: any("Tagesüberblick" in str(c.params.get("text")) for c in t.sent(RESIDENT + 1))
    )
    await until_state(service, "1", "done")
    [done] = await say(EDITOR, "/status 1")
    assert done == "#1: gesendet. 1 von 1 zugestellt, 0 fehlgeschlagen, 0 blockiert, 0 ausgeschieden."


async def test_an_approver_sends_held_news_at_once_and_it_is_audited(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    clock.advance(hours=13)  # 23:00, in the quiet hours
    await say(EDITOR, "/meldung verkehr Wasserrohrbruch, Hauptstraße gesperrt")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    [answer] = [
        m for m in tg.messages(APPROVER) if m["text"].startswith("#1 ist freigegeben und zurückgehalten")
    ]
    labels = [b["text"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Trotzdem jetzt senden", "Abbrechen"]
    send_anyway = button_command(tg, APPROVER, "/freigeben 1 ")
    assert message_buttons(answer) == [send_anyway, "/abbrechen 1"]
    # The author, told of the approval, may send it at once too: the same button.
    await notified(tg, EDITOR, "Trotzdem jetzt senden: /freigeben 1")
    assert button_command(tg, EDITOR, "/freigeben 1 ") == send_anyway
    assert not any("Wasserrohrbruch" in str(c.params.get("text")) for c in tg.sent(RESIDENT))

    [sent] = await press(tg, APPROVER, send_anyway)
    assert sent == "#1 wird jetzt gesendet."
    await notified(
        tg, EDITOR, "Sabine Wagner (Presseamt) hat Ihre zurückgehaltene Meldung #1 jetzt gesendet."
    )
    await tg.wait_for(lambda t: any("Wasserrohrbruch" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    await until_state(service, "1", "done")
    assert service.storage is not None
    entries = [
        (entry.who, entry.action, entry.via)
        async for entry in audit_log(service.storage, service.settings).since(
            datetime(2000, 1, 1, tzinfo=UTC)
        )
        if entry.broadcast_id == "1"
    ]
    assert ("presse-freigabe", "approve", "telegram") in entries
    assert entries[-1] == ("presse-freigabe", "release", "telegram"), entries
    await say(EDITOR, "/status 1")
    await say(EDITOR, "/offen")
    # Everything staff read in this flow names the held state with one word, and nothing ended counts down.
    shown = [
        str(call.params.get("text"))
        for chat in (EDITOR, APPROVER)
        for method in ("sendMessage", "editMessageText")
        for call in tg.sent(chat, method)
    ]
    assert any("zurückgehalten" in text for text in shown)
    for text in shown:
        for variant in ("angehalten (Ruhezeit", "noch etwa 0 s", "pausiert", " held", " done"):
            assert variant not in text, text


async def test_weekly_news_is_scheduled_from_the_chat(say: Say, tg: FakeTelegram) -> None:
    scheduled, preview = await say(
        EDITOR, "/planen woechentlich Mo 18:00 abfall Biotonne rausstellen", replies=2
    )
    assert scheduled.startswith(
        "Wiederkehrend geplant: jeden Montag um 18:00, zuerst am 23.11.2026 18:00 (Ortszeit)."
    )
    assert preview.startswith("Entwurf #1")
    [usage] = await say(EDITOR, "/planen woechentlich 18:00 abfall Text")
    assert usage.startswith("So planen Sie eine Meldung")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [approved] = await approve(say, tg, APPROVER, 1)
    assert approved == "#1 ist freigegeben und geht am 23.11.2026 18:00 hinaus. Abbrechen: /abbrechen 1"
    await notified(
        tg,
        EDITOR,
        "Freigabe durch Sabine Wagner (Presseamt): #1 ist freigegeben und geht am 23.11.2026 18:00 hinaus.",
    )
    [pending] = await say(EDITOR, "/offen")
    assert "wiederkehrend jeden Montag um 18:00, nächster Termin 23.11.2026 18:00" in pending


async def test_a_broadcast_due_while_the_service_was_down(
    say: Say,
    tg: FakeTelegram,
    service: Service,
    clock: ManualClock,
    sleeps: Sleeps,
    make_settings: Any,
    city_file: Path,
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    for number, time in ((1, "18:00"), (2, "19:00")):
        await say(EDITOR, f"/planen heute {time} verkehr Meldung {number}", replies=2)
        await say(EDITOR, f"/einreichen {number}")
        await notified(tg, APPROVER, f"bittet um Freigabe von #{number}")
        await approve(say, tg, APPROVER, number)
    await service.stop()
    clock.advance(hours=8, minutes=20)  # 18:20: the first is due 20 minutes ago, within the grace

    def restarted() -> Service:
        return Service(
            make_settings(telegram_api_url=tg.url, city_config=city_file), clock=clock, sleep=sleeps
        )

    second = restarted()
    await second.start()
    await tg.wait_for(lambda t: any("Meldung 1" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    await second.stop()
    clock.advance(hours=1)  # 19:20, and down again until 19:40: the second is missed
    clock.advance(minutes=20)
    third = restarted()
    await third.start()
    try:
        await tg.wait_for(lambda t: any("#1 gesendet: 1 von 1" in str(c.params.get("text")) for c in t.calls))
        await notified(tg, EDITOR, "#2 war für 23.11.2026 19:00 geplant, ging aber nicht hinaus")
        send_now, drop = buttons(tg, EDITOR)
        assert (send_now[:13], drop) == ("/freigeben 2 ", "/abbrechen 2"), "the button names the version"
        assert not any("Meldung 2" in str(c.params.get("text")) for c in tg.sent(RESIDENT))
        assert await say(EDITOR, send_now, button=True) == ["#2 wird jetzt gesendet."]
        await tg.wait_for(lambda t: any("Meldung 2" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    finally:
        await third.stop()


@pytest.mark.every_redis_mode  # the trace scan walks every primary of a cluster
async def test_erasing_a_digest_reader_leaves_no_trace(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, redis: aioredis.Redis
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(RESIDENT, "/abo kultur")
    await say(RESIDENT, "/zustellung taeglich")
    await publish(say, tg, 1, "Sperrung der B7")
    clock.advance(hours=21)  # 07:00 the next morning
    await service.upkeep_once()
    await tg.wait_for(lambda t: any("Tagesüberblick" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    await say(RESIDENT, "/loeschen")
    await say(RESIDENT, "/loeschen ja")
    assert await traces(redis, str(RESIDENT)) == []


async def test_the_timer_wakes_the_service_when_the_next_broadcast_is_due(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    assert service.timer is not None
    await say(EDITOR, "/planen heute 18:00 verkehr Sperrung", replies=2)
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    # 08:00 from now on the service's clock; the schedule change re-armed the timer over Redis.
    expected = datetime.now(UTC) + timedelta(hours=8)

    def armed() -> bool:
        wake = service.timer.next_wake if service.timer else None
        return wake is not None and abs((wake - expected).total_seconds()) < 60

    await until(armed)
