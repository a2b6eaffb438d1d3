"""The editorial desk in the chat, through the service and the Bot API stand-in: four eyes on every send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.service import Service
from handlers.charts import HEIGHT_PX, WIDTH_PX
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import Say, approve, bot_calls, edit_city
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram, UploadedFile

ADMIN, EDITOR, APPROVER, FIRE, OBSERVATORY = 100001, 100002, 100003, 100004, 100006
RESIDENT = 777


async def subscribe(say: Say, chat: int, topic: str) -> None:
    await say(chat, "/start")
    await say(chat, "/zustimmen")
    await say(chat, f"/abo {topic}")


async def notified(tg: FakeTelegram, chat: int, text: str) -> None:
    """Notifications to other chats follow the answer; wait for them before that person acts."""
    await tg.wait_for(lambda t: any(text in str(c.params.get("text")) for c in t.sent(chat)))


async def until(condition: Callable[[], bool]) -> None:
    """State another task changes (a reload arriving over Redis pub/sub): look again until it holds."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def buttons(tg: FakeTelegram, chat: int) -> list[str]:
    markup = tg.sent(chat)[-1].params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_staff_commands_are_unknown_to_everyone_else(say: Say) -> None:
    for command in ("/meldung verkehr Text", "/freigeben 1", "/eilmeldung alle Feuer", "/offen", "/status"):
        assert await say(RESIDENT, command) == [
            "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit /hilfe."
        ]


async def test_draft_preview_submit_approve_and_delivery(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    [preview] = await say(
        EDITOR, "/meldung verkehr Die B7 ist ab Montag gesperrt.\nEN: The B7 is closed from Monday."
    )
    assert preview.startswith("Entwurf #1 – so sehen es die Empfängerinnen und Empfänger:")
    assert "📣 Verkehr\n\nDie B7 ist ab Montag gesperrt." in preview
    assert "Englische Fassung:\n📣 Traffic\n\nThe B7 is closed from Monday." in preview
    assert "Empfänger: 1 Telegram ≈ 1 s beim Plattformlimit. WhatsApp-Vorlagen nötig: 0." in preview
    assert buttons(tg, EDITOR) == ["/einreichen 1", "/aendern 1", "/probe 1", "/verwerfen 1"]
    assert button_labels(tg, EDITOR)[0] == "✅ Einreichen"
    assert "keine Freigabe" not in preview

    [test] = (await say(EDITOR, "/probe 1", replies=2))[1:]
    assert test == "📣 Verkehr\n\nDie B7 ist ab Montag gesperrt."

    [submitted] = await say(EDITOR, "/einreichen 1", button=True)
    assert submitted.startswith("#1 ist zur Freigabe eingereicht. Benachrichtigt: Katrin Hoffmann")
    assert "Sabine Wagner" in submitted
    await tg.wait_for(lambda t: len(bot_calls(t, APPROVER)) == 1 and len(bot_calls(t, ADMIN)) == 1)
    request = tg.sent(APPROVER)[-1].params["text"]
    assert request.startswith("Jonas Becker (Presseamt) bittet um Freigabe von #1: Fassung ")
    version = request.split("Fassung ")[1][:12]
    assert buttons(tg, APPROVER) == [f"/freigeben 1 {version}", f"/ablehnen 1 {version}"]
    assert not [c for c in tg.sent(RESIDENT) if "B7" in c.params["text"]], "nothing goes out before approval"

    approved = await say(APPROVER, f"/freigeben 1 {version}", button=True)
    assert approved[0].startswith("#1 ist freigegeben und geht jetzt hinaus.")
    await tg.wait_for(lambda t: any("B7" in c.params["text"] for c in t.sent(RESIDENT)))
    await tg.wait_for(
        lambda t: any("Freigabe durch Sabine Wagner (Presseamt)" in c.params["text"] for c in t.sent(EDITOR))
    )

    [again] = await say(APPROVER, "/approve 1")
    assert again.startswith("#1 ist ")
    assert "das geht jetzt nicht mehr" in again


async def test_nobody_approves_their_own_broadcast(say: Say, tg: FakeTelegram) -> None:
    await say(FIRE, "/meldung feuerwehr Übung am Samstag")
    await say(FIRE, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [own] = await say(FIRE, "/freigeben 1")
    assert own.startswith("Ihre eigene Meldung #1 können Sie nicht selbst freigeben – Vier-Augen-Prinzip.")
    [editor] = await say(EDITOR, "/freigeben 1")
    assert editor.startswith(
        "Freigeben dürfen Sie #1 nicht: Ihnen fehlt das Freigaberecht für Feuerwehr & Krisen."
    )


async def test_an_editor_cannot_write_for_another_departments_topic(say: Say) -> None:
    [refused] = await say(OBSERVATORY, "/meldung verkehr Sperrung")
    assert refused == "Dafür fehlt Ihnen die Berechtigung für: Verkehr."
    [own_topic] = await say(OBSERVATORY, "/news sternwarte Tag der offenen Tür")
    assert own_topic.startswith("Entwurf #1")


def button_labels(tg: FakeTelegram, chat: int) -> list[str]:
    markup = tg.sent(chat)[-1].params.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_topics_without_approval_go_out_on_submit(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "sternwarte")
    [preview] = await say(OBSERVATORY, "/meldung sternwarte Heute Abend Jupiter beobachten")
    assert "Für diese Themen ist keine Freigabe nötig: „Jetzt senden“ schickt die Meldung sofort" in preview
    assert "Jetzt senden: /einreichen 1" in preview
    assert button_labels(tg, OBSERVATORY)[0] == "Jetzt senden (ohne Freigabe)"
    assert buttons(tg, OBSERVATORY)[0] == "/einreichen 1"
    # The author's progress message may follow at once: it takes the staff lane, not a turn behind others.
    sent = (await say(OBSERVATORY, "/submit 1"))[0]
    assert sent == "#1 geht jetzt hinaus: Für diese Themen ist keine Freigabe nötig."
    await tg.wait_for(lambda t: any("Jupiter" in c.params["text"] for c in t.sent(RESIDENT)))


async def test_reject_with_a_reason_tells_the_author(say: Say, tg: FakeTelegram) -> None:
    await say(EDITOR, "/meldung kultur Konzert fällt aus")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [rejected] = await say(APPROVER, "/ablehnen 1 Bitte Ersatztermin nennen")
    assert rejected == "#1 ist abgelehnt. Jonas Becker (Presseamt) ist informiert."
    await tg.wait_for(lambda t: any("Bitte Ersatztermin nennen" in c.params["text"] for c in t.sent(EDITOR)))
    [late] = await say(APPROVER, "/freigeben 1")
    assert late == "#1 ist abgelehnt – das geht jetzt nicht mehr."


async def test_bad_staff_input_gets_clear_answers(say: Say) -> None:
    assert (await say(EDITOR, "/meldung"))[0].startswith("So schreiben Sie eine Meldung:")
    assert (await say(EDITOR, "/meldung mondbasis Text"))[0].startswith(
        "Das Thema „mondbasis“ gibt es nicht."
    )
    assert await say(EDITOR, "/meldung verkehr   ") == [
        "Der Text ist leer. Bitte schreiben Sie den Text direkt hinter das Thema."
    ]
    assert await say(APPROVER, "/freigeben 99") == ["Eine Meldung #99 gibt es nicht."]
    assert await say(APPROVER, "/freigeben") == [
        "Bitte geben Sie die Nummer der Meldung an, zum Beispiel: /freigeben 12"
    ]
    [escaped] = await say(EDITOR, "/meldung verkehr <b>Fett</b> & Co")
    assert "<b>Fett</b> & Co" in escaped, "HTML-like text reaches recipients as typed, escaped on the way"
    await say(EDITOR, "/einreichen 1")
    [twice] = await say(EDITOR, "/einreichen 1")
    assert twice == "#1 ist wartet auf Freigabe – das geht jetzt nicht mehr."


async def test_pending_cancel_and_status(say: Say, tg: FakeTelegram) -> None:
    await say(EDITOR, "/meldung verkehr Erster Entwurf")
    await say(EDITOR, "/meldung kultur Zweiter Entwurf")
    await say(EDITOR, "/einreichen 2")
    await notified(tg, APPROVER, "bittet um Freigabe von #2")
    [listing] = await say(APPROVER, "/offen")
    assert "#1 · Entwurf · Verkehr · Jonas Becker (Presseamt): Erster Entwurf" in listing
    assert "#2 · wartet auf Freigabe · Kultur" in listing
    [cancelled] = await say(EDITOR, "/abbrechen 2")
    assert cancelled.startswith("#2 ist abgebrochen.")
    [listing] = await say(APPROVER, "/pending")
    assert "#2" not in listing
    assert await say(APPROVER, "/status") == ["Gerade wird nichts gesendet."]


async def test_alerts_wait_for_approval_when_the_city_says_so(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "feuerwehr")
    replies = await say(FIRE, "/eilmeldung feuerwehr Großbrand im Hafen, Fenster schließen", replies=2)
    assert replies[0].startswith("Entwurf #1")
    assert replies[1].startswith("#1 ist zur Freigabe eingereicht.")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [approved] = await approve(say, tg, APPROVER, 1)
    assert approved.startswith("#1 ist freigegeben")
    await tg.wait_for(lambda t: any("Großbrand" in c.params["text"] for c in t.sent(RESIDENT)))
    alert = next(c.params["text"] for c in tg.sent(RESIDENT) if "Großbrand" in c.params["text"])
    assert alert.startswith("⚠️ Eilmeldung Feuerwehr")


async def test_audit_log_records_every_action(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str
) -> None:
    await say(EDITOR, "/meldung verkehr Sperrung")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await say(APPROVER, "/ablehnen 1 zu kurz")
    raw: Any = await redis.xrange(f"{key_prefix}:audit")
    entries: list[dict[str, str]] = [fields for _, fields in raw]
    assert [(e["who"], e["action"], e["broadcast"]) for e in entries] == [
        ("presse-redaktion", "draft", "1"),
        ("presse-redaktion", "submit", "1"),
        ("presse-freigabe", "reject", "1"),
    ]
    assert entries[2]["detail"] == "zu kurz"


async def test_audit_export_as_json_lines(
    say: Say, tg: FakeTelegram, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    await say(EDITOR, "/meldung verkehr Sperrung")
    await say(EDITOR, "/verwerfen 1")
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    result = stadtfunk("audit", "--since", "2026-01-01", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["who"], e["action"], e["broadcast"]) for e in lines] == [
        ("presse-redaktion", "draft", "1"),
        ("presse-redaktion", "cancel", "1"),
    ]
    assert stadtfunk("audit", "--since", "2099-01-01", cwd=tmp_path, **env).stdout == ""
    bad = stadtfunk("audit", "--since", "gestern", cwd=tmp_path, **env)
    assert bad.returncode == 2
    assert "expected a date like 2026-11-01" in bad.stderr


async def test_drafts_expire_and_their_authors_are_told(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await say(EDITOR, "/meldung verkehr Wird liegen gelassen")
    clock.advance(hours=23)
    await service.upkeep_once()
    assert not any("abgelaufen" in c.params["text"] for c in tg.sent(EDITOR))
    clock.advance(hours=2)
    await service.upkeep_once()
    await notified(tg, EDITOR, "Ihr Entwurf #1 ist abgelaufen")
    assert await say(EDITOR, "/einreichen 1") == ["#1 ist abgelaufen – das geht jetzt nicht mehr."]


async def test_an_alert_waiting_too_long_reminds_approvers_and_admins_once(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await say(FIRE, "/eilmeldung feuerwehr Gasgeruch in der Altstadt", replies=2)
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    clock.advance(minutes=11)
    await service.upkeep_once()
    for chat in (APPROVER, ADMIN):
        await notified(tg, chat, "Erinnerung: Eilmeldung #1 von Lagedienst Feuerwehr wartet seit 11 Minuten")
    assert not any("Erinnerung" in c.params["text"] for c in tg.sent(FIRE))
    clock.advance(minutes=5)
    await service.upkeep_once()
    assert len([c for c in tg.sent(APPROVER) if "Erinnerung" in c.params["text"]]) == 1


async def test_reload_takes_staff_changes_without_a_restart(
    tg: FakeTelegram, service: Service, city_file: Path, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix, "CITY_CONFIG": str(city_file)}
    tg.push_message(OBSERVATORY, "/meldung verkehr Parkplatz gesperrt")
    await notified(tg, OBSERVATORY, "Dafür fehlt Ihnen die Berechtigung für: Verkehr.")
    edit_city(city_file, "editor: [sternwarte]", "editor: [sternwarte, verkehr]")
    result = stadtfunk("reload", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert "reloaded by 1 service process(es)" in result.stdout
    await until(lambda: service.city.staff_member("sternwarte").topics_for("editor") != {"sternwarte"})  # type: ignore[union-attr]
    tg.push_message(OBSERVATORY, "/meldung verkehr Parkplatz gesperrt")
    await notified(tg, OBSERVATORY, "Entwurf #1")

    edit_city(city_file, "  - id: kultur", "  - id: Kultur Amt")
    broken = stadtfunk("reload", cwd=tmp_path, **env)
    assert broken.returncode == 2
    assert "stadt.yaml" in broken.stderr
    assert "topics[3].id: must be lowercase letters" in broken.stderr


async def test_statistics_show_totals_only(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "sternwarte")
    await subscribe(say, RESIDENT + 1, "sternwarte")
    await say(RESIDENT + 1, "/abbestellen sternwarte")
    await say(OBSERVATORY, "/meldung sternwarte Sternschnuppen heute Nacht")
    await say(OBSERVATORY, "/einreichen 1")
    await tg.wait_for(lambda t: any("Sternschnuppen" in c.params["text"] for c in t.sent(RESIDENT)))
    stats: list[str] = []
    for _ in range(50):  # the delivery is counted right after the send; ask until it shows
        [stats_text] = await say(OBSERVATORY, "/statistik")
        stats = stats_text.splitlines()
        if any("1 zugestellt" in line for line in stats):
            break
    assert stats[0] == "Statistik – nur Summen, keine Personen. Abonnements je Thema:"
    assert "Sternwarte: 1 Telegram (+1 in 7 Tagen, +1 in 30 Tagen)" in stats
    assert "Verkehr: 0 Telegram (+0 in 7 Tagen, +0 in 30 Tagen)" in stats
    assert (
        "23.11.: 1 Meldungen, 1 zugestellt, 0 fehlgeschlagen, 0 blockiert, 0 ausgeschieden, "
        "0 nach Löschfrist gelöscht"
    ) in stats
    assert not any(str(RESIDENT) in line for line in stats)
    assert await say(RESIDENT, "/statistik") == [
        "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit /hilfe."
    ]


async def test_the_author_sees_a_live_progress_message(say: Say, tg: FakeTelegram, service: Service) -> None:
    for chat in (RESIDENT, RESIDENT + 1, RESIDENT + 2):
        await subscribe(say, chat, "sternwarte")
    await say(OBSERVATORY, "/meldung sternwarte Mondfinsternis um 21 Uhr")
    assert service.engine is not None
    assert service.reporter is not None
    # The residents' deliveries stay on their way until released, so that the pause finds them unsent.
    tg.hold("sendMessage", chats=(RESIDENT, RESIDENT + 1, RESIDENT + 2))
    await say(OBSERVATORY, "/einreichen 1")
    await service.engine.pause("1")
    await service.reporter.tick()
    await tg.wait_for(
        lambda t: any(str(c.params.get("text", "")).startswith("#1 angehalten") for c in t.sent(OBSERVATORY))
    )
    progress_message = tg.messages(OBSERVATORY)[-1]["message_id"]
    assert "▱" in tg.messages(OBSERVATORY)[-1]["text"]
    await service.engine.resume("1")
    tg.release()
    await tg.wait_for(
        lambda t: all(
            any("Mondfinsternis" in c.params["text"] for c in t.sent(chat))
            for chat in (RESIDENT, RESIDENT + 1, RESIDENT + 2)
        )
    )
    await until_state(service, "1", "done")
    await service.reporter.tick()
    final = next(m for m in tg.messages(OBSERVATORY) if m["message_id"] == progress_message)
    assert final["text"].startswith(
        "#1 gesendet: 3 von 3 zugestellt, 0 fehlgeschlagen, 0 blockiert, 0 ausgeschieden"
    )


async def until_state(service: Service, broadcast_id: str, state: str) -> None:
    assert service.engine is not None
    engine = service.engine
    async with asyncio.timeout(10):
        while (await engine.progress(broadcast_id)).state.value != state:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_scheduled_news_waits_for_its_time_and_goes_out_once(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    # The test clock stands at 23.11.2026 10:00 in Beispielstadt.
    await subscribe(say, RESIDENT, "abfall")
    [usage] = await say(EDITOR, "/planen nächste Woche abfall Text")
    assert usage.startswith("So planen Sie eine Meldung: /planen <TT.MM.JJJJ HH:MM> <thema> <text>")
    assert await say(EDITOR, "/planen 01.01.2026 08:00 abfall Text") == [
        "01.01.2026 08:00 liegt in der Vergangenheit. Bitte wählen Sie eine spätere Zeit."
    ]
    scheduled, preview = await say(EDITOR, "/planen morgen 18:00 abfall Gelbe Säcke rausstellen", replies=2)
    assert scheduled == "Geplant für 24.11.2026 18:00 (Ortszeit)."
    assert preview.startswith("Entwurf #1")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [approved] = await approve(say, tg, APPROVER, 1)
    assert approved == "#1 ist freigegeben und geht am 24.11.2026 18:00 hinaus. Abbrechen: /abbrechen 1"
    await service.upkeep_once()
    assert not any("Gelbe Säcke" in c.params["text"] for c in tg.sent(RESIDENT))
    clock.advance(hours=31, minutes=59)  # 24.11. 17:59 in Beispielstadt
    await service.upkeep_once()
    assert not any("Gelbe Säcke" in c.params["text"] for c in tg.sent(RESIDENT))
    clock.advance(minutes=1)
    await service.upkeep_once()
    await service.upkeep_once()  # a second look (or another process) finds nothing left to send
    await tg.wait_for(lambda t: any("Gelbe Säcke" in c.params["text"] for c in t.sent(RESIDENT)))
    await until_state(service, "1", "done")
    assert len([c for c in tg.sent(RESIDENT) if "Gelbe Säcke" in c.params["text"]]) == 1


async def test_change_by_button_then_new_text(say: Say, tg: FakeTelegram) -> None:
    await say(EDITOR, "/meldung verkehr Sperung der B7")
    await say(EDITOR, "/einreichen 1")
    [prompt] = await say(EDITOR, "/aendern 1", button=True)
    assert prompt.startswith("Senden Sie jetzt den neuen Text für #1")
    edited, preview = await say(EDITOR, "Sperrung der B7\nEN: B7 closed", replies=2)
    assert edited == "#1 ist geändert und muss neu eingereicht werden."
    assert "📣 Verkehr\n\nSperrung der B7" in preview
    assert "📣 Traffic\n\nB7 closed" in preview
    # The next plain message is free text again.
    [hint] = await say(EDITOR, "Hallo")
    assert hint == "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit /hilfe."
    [other] = await say(APPROVER, "/aendern 1 Mein Text")
    assert other == "Das kann nur, wer #1 geschrieben hat."


async def test_the_desk_in_english(say: Say, tg: FakeTelegram) -> None:
    [preview] = await say(EDITOR, "/news verkehr Bridge closed", language_code="en")
    assert preview.startswith("Draft #1 – this is what recipients will see:")
    assert "Recipients: 0 Telegram ≈ 0 s at the platform limit." in preview
    [submitted] = await say(EDITOR, "/submit 1", language_code="en")
    assert submitted.startswith("#1 is submitted for approval. Notified:")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    [own] = await say(EDITOR, "/approve 1", language_code="en")
    assert own.startswith("You cannot approve your own news #1 – four-eyes principle.")
    [listing] = await say(APPROVER, "/pending", language_code="en")
    assert "#1 · awaiting approval · Traffic · Jonas Becker (Presseamt): Bridge closed" in listing
    [rejected] = await say(APPROVER, "/reject 1 typo", language_code="en")
    assert rejected == "#1 is rejected. Jonas Becker (Presseamt) has been told."
    [status] = await say(APPROVER, "/status 1", language_code="en")
    assert status.startswith("#1: rejected.")


async def test_staff_hear_unprompted_messages_in_their_own_language(
    say: Say, tg: FakeTelegram, service: Service, city_file: Path
) -> None:
    edit_city(city_file, "      approver: all\n", "      approver: all\n    language: en\n")
    assert await service.reload_city()
    await say(EDITOR, "/meldung verkehr Die B7 ist gesperrt.\nEN: The B7 is closed.")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "Jonas Becker (Presseamt) asks for approval of #1:")
    request = str(tg.sent(APPROVER)[-1].params["text"])
    assert "Die B7 ist gesperrt." in request
    assert "The B7 is closed." in request, "an approver sees every language version"
    assert [b["text"] for b in tg.sent(APPROVER)[-1].params["reply_markup"]["inline_keyboard"][0]] == [
        "✅ Approve",
        "❌ Reject",
    ]
    await approve(say, tg, APPROVER, 1)
    await notified(tg, EDITOR, "Freigabe durch Sabine Wagner (Presseamt): #1 ist freigegeben")


async def test_statistics_count_daily_digest_readers_in_each_topic(say: Say) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(RESIDENT, "/abo baustellen")
    await say(RESIDENT, "/zustellung taeglich")
    await subscribe(say, RESIDENT + 1, "verkehr")
    [stats_text] = await say(OBSERVATORY, "/statistik")
    stats = stats_text.splitlines()
    assert "Verkehr: 2 Telegram (+2 in 7 Tagen, +2 in 30 Tagen)" in stats
    assert "Baustellen: 1 Telegram (+1 in 7 Tagen, +1 in 30 Tagen)" in stats


async def test_statistics_come_with_the_chart_as_a_photo(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "sternwarte")
    [stats] = await say(OBSERVATORY, "/statistik")
    assert stats.startswith("Statistik – nur Summen")
    await tg.wait_for(lambda t: bool(t.sent(OBSERVATORY, "sendPhoto")))
    [photo] = tg.sent(OBSERVATORY, "sendPhoto")
    upload = photo.params["photo"]
    assert isinstance(upload, UploadedFile)
    assert (upload.filename, upload.content_type) == ("stadtfunk-statistik.png", "image/png")
    assert upload.content.startswith(b"\x89PNG\r\n\x1a\n")
    # Telegram read the image's own header: the chart's size.
    [size] = tg.messages(OBSERVATORY)[-1]["photo"]
    assert (size["width"], size["height"]) == (WIDTH_PX, HEIGHT_PX)
    assert not tg.sent(RESIDENT, "sendPhoto")
