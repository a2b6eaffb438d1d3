"""Four eyes on the text itself, through the service and the Bot API stand-in: an approval binds the
version the approver saw, a changed text needs a new approval, rights are checked as the city file
stands at each step, and nothing old is forgotten by expiry or /offen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.assembly import audit_log
from bot.service import Service
from broadcasts.audit import Action, Entry, Via
from broadcasts.desk_values import Actor
from broadcasts.model import State
from tests.bot.conftest import Say, approve, button_command, edit_city, message_buttons, press
from tests.bot.test_staff_flow import (
    ADMIN,
    APPROVER,
    EDITOR,
    FIRE,
    OBSERVATORY,
    RESIDENT,
    notified,
    subscribe,
    until_state,
)
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram


def received(tg: FakeTelegram, chat: int, text: str) -> bool:
    return any(text in str(c.params.get("text")) for c in tg.sent(chat))


async def entries(service: Service) -> list[Entry]:
    assert service.storage is not None
    log = audit_log(service.storage, service.settings)
    return [e async for e in log.since(service.clock().replace(year=2000))]


async def state(service: Service, broadcast_id: str) -> State:
    assert service.engine is not None
    return (await service.engine.progress(broadcast_id)).state


async def test_a_text_swapped_after_submission_is_not_sent_by_the_old_request(
    say: Say, tg: FakeTelegram, service: Service
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(EDITOR, "/meldung verkehr Das Stadtfest beginnt um 14 Uhr.")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    first_request = button_command(tg, APPROVER, "/freigeben 1 ")
    assert len(first_request.encode()) <= 64, "Telegram's limit for callback data"

    # The author swaps the text after submitting it, and submits again.
    edited, _ = await say(EDITOR, "/aendern 1 Das Stadtfest fällt aus. Bitte nicht kommen.", replies=2)
    assert edited == "#1 ist geändert und muss neu eingereicht werden."
    await notified(tg, APPROVER, "Die Freigabeanfrage für #1 von Jonas Becker (Presseamt) (Fassung")
    await say(EDITOR, "/einreichen 1")
    await tg.wait_for(lambda t: len([x for x in t.texts(APPROVER) if "bittet um Freigabe von #1" in x]) == 2)
    second_request = button_command(tg, APPROVER, "/freigeben 1 ")
    assert second_request != first_request

    # The approver presses "Freigeben" on the first request, the one they read.
    void, shown = await press(tg, APPROVER, first_request, replies=2)
    assert void.startswith("⛔ Diese Anfrage für #1 (Fassung ")
    assert "Der Text wurde geändert; bitte die neue Fassung prüfen. Gesendet wurde nichts." in void
    assert shown.startswith("Bitte prüfen Sie Fassung ")
    assert "Das Stadtfest fällt aus." in shown
    await notified(tg, EDITOR, "Sabine Wagner (Presseamt) wollte über eine ältere Fassung von #1 entscheiden")
    old_message = next(m for m in tg.messages(APPROVER) if str(m["text"]).startswith("⛔"))
    assert message_buttons(old_message) == [], "the old request now says it is void, without buttons"
    assert await state(service, "1") is State.PENDING_APPROVAL
    assert not received(tg, RESIDENT, "Stadtfest")

    refused = [e for e in await entries(service) if e.action == Action.REFUSED]
    assert [(e.who, e.broadcast_id, e.via) for e in refused] == [("presse-freigabe", "1", "telegram")]
    assert refused[0].detail == f"names version {first_request.split()[-1]}"

    # The version the approver now checked goes out, and only that one.
    await press(tg, APPROVER, second_request)
    await tg.wait_for(lambda t: received(t, RESIDENT, "Das Stadtfest fällt aus."))
    await until_state(service, "1", "done")
    assert not received(tg, RESIDENT, "beginnt um 14 Uhr")
    approved = [e for e in await entries(service) if e.action in (Action.APPROVE, Action.SEND)]
    assert {e.version[:12] for e in approved} == {second_request.split()[-1]}


async def test_an_edit_after_approval_of_scheduled_news_needs_a_new_approval(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    # The test clock stands at 23.11.2026 10:00 in Beispielstadt.
    await subscribe(say, RESIDENT, "abfall")
    await say(EDITOR, "/planen morgen 18:00 abfall Gelbe Säcke rausstellen", replies=2)
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    first_request = button_command(tg, APPROVER, "/freigeben 1 ")
    [approved] = await approve(say, tg, APPROVER, 1)
    assert approved == "#1 ist freigegeben und geht am 24.11.2026 18:00 hinaus. Abbrechen: /abbrechen 1"

    await say(EDITOR, "/aendern 1 Gelbe Säcke behalten, die Abfuhr fällt aus", replies=2)
    await notified(tg, APPROVER, "Die Freigabeanfrage für #1")
    assert await state(service, "1") is State.DRAFT
    await say(EDITOR, "/einreichen 1")
    await tg.wait_for(lambda t: len([x for x in t.texts(APPROVER) if "bittet um Freigabe von #1" in x]) == 2)
    [void, _] = await say(APPROVER, first_request, button=True, replies=2)  # the first request, replayed
    assert "Der Text wurde geändert; bitte die neue Fassung prüfen" in void

    clock.advance(hours=32)  # 24.11. 18:00, and the hours after
    await service.upkeep_once()
    clock.advance(hours=2)
    await service.upkeep_once()
    assert not received(tg, RESIDENT, "Säcke"), "neither version went out: the new one is not approved"
    assert await state(service, "1") is State.EXPIRED  # the request, unanswered, expired meanwhile


async def test_an_edited_repeating_series_stops_until_it_is_approved_again(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await subscribe(say, RESIDENT, "abfall")
    await say(EDITOR, "/planen täglich 18:00 abfall Biotonne rausstellen", replies=2)
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    clock.advance(hours=8)  # 18:00: the first occurrence, as approved
    await service.upkeep_once()
    await tg.wait_for(lambda t: received(t, RESIDENT, "Biotonne rausstellen"))
    await say(EDITOR, "/aendern 1 Biotonne bleibt drin", replies=2)
    clock.advance(days=1)
    await service.upkeep_once()
    assert not received(tg, RESIDENT, "bleibt drin")
    assert len([t for t in tg.texts(RESIDENT) if "Biotonne" in t]) == 1


async def test_a_pending_alert_swapped_before_approval_is_not_sent(
    say: Say, tg: FakeTelegram, service: Service
) -> None:
    await subscribe(say, RESIDENT, "feuerwehr")
    await say(FIRE, "/eilmeldung feuerwehr Übung: Sirenen um 11 Uhr", replies=2)
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    first_request = button_command(tg, APPROVER, "/freigeben 1 ")
    await say(FIRE, "/aendern 1 Evakuierung der Innenstadt sofort", replies=2)
    await say(FIRE, "/einreichen 1")
    await tg.wait_for(lambda t: len([x for x in t.texts(APPROVER) if "bittet um Freigabe von #1" in x]) == 2)
    [void, _] = await press(tg, APPROVER, first_request, replies=2)
    assert "Der Text wurde geändert" in void
    assert not received(tg, RESIDENT, "Evakuierung")
    assert not received(tg, RESIDENT, "Sirenen")


async def test_a_break_glass_alert_is_reviewed_as_the_version_that_went_out(
    say: Say, tg: FakeTelegram, service: Service, city_file: Path
) -> None:
    edit_city(city_file, "alerts_need_approval: true", "alerts_need_approval: false")
    assert await service.reload_city()
    await subscribe(say, RESIDENT, "feuerwehr")
    await say(FIRE, "/eilmeldung feuerwehr Unwetter: Keller räumen", replies=2)
    await tg.wait_for(lambda t: received(t, RESIDENT, "Keller räumen"))
    await notified(tg, APPROVER, "ging ohne Freigabe hinaus (Fassung ")
    review = button_command(tg, APPROVER, "/geprueft 1 ")

    # What went out cannot change any more: an edit is refused, so the review is of the sent text.
    [refused] = await say(FIRE, "/aendern 1 Alles halb so wild")
    assert refused.endswith("das geht jetzt nicht mehr.")
    [shown] = await say(APPROVER, "/geprueft 1")
    assert shown.startswith("Bitte prüfen Sie die gesendete Fassung ")
    assert "Unwetter: Keller räumen" in shown
    [forged] = await say(APPROVER, "/geprueft 1 0123456789ab")
    assert forged.startswith("Bitte prüfen Sie die gesendete Fassung "), "a wrong version confirms nothing"
    assert "ungeprüfte Eilmeldung" in (await say(APPROVER, "/offen"))[0]

    [own] = await say(FIRE, f"/geprueft 1 {review.split()[-1]}")
    assert own.startswith("Freigeben dürfen Sie #1 nicht"), "the author cannot check their own"
    [checked] = await press(tg, APPROVER, review)
    assert checked == "Eilmeldung #1 ist geprüft."
    reviewed = [e for e in await entries(service) if e.action == Action.REVIEW]
    assert [e.version[:12] for e in reviewed] == [review.split()[-1]]
    assert await say(APPROVER, "/offen") == ["Nichts offen."]


async def test_forged_and_truncated_approval_buttons_send_nothing(
    say: Say, tg: FakeTelegram, service: Service
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(EDITOR, "/meldung verkehr Sperrung der B7")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    genuine = button_command(tg, APPROVER, "/freigeben 1 ")
    for data in ("/freigeben 1 000000000000", genuine[:-4], "/freigeben 1 " + "f" * 40, "/freigeben 1 zz"):
        [answer, *_] = await say(APPROVER, data, button=True, replies=2)
        assert answer.startswith("⛔ Diese Anfrage für #1"), data
    assert await state(service, "1") is State.PENDING_APPROVAL
    assert not received(tg, RESIDENT, "B7")
    assert len([e for e in await entries(service) if e.action == Action.REFUSED]) == 4


async def test_a_test_copy_only_for_staff_of_the_broadcasts_topics(say: Say, tg: FakeTelegram) -> None:
    await say(FIRE, "/meldung feuerwehr Vertraulich: Großübung am Hafen")
    [refused] = await say(OBSERVATORY, "/probe 1")
    assert refused == "Dafür fehlt Ihnen die Berechtigung für: Feuerwehr & Krisen."
    assert not received(tg, OBSERVATORY, "Vertraulich")
    _, copy = await say(EDITOR, "/probe 1", replies=2)  # the press office edits every topic
    assert "Vertraulich: Großübung am Hafen" in copy
    _, own = await say(FIRE, "/test 1", replies=2)
    assert "Vertraulich" in own


async def test_a_role_removed_by_reload_between_submit_and_approve(
    say: Say, tg: FakeTelegram, service: Service, city_file: Path
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(EDITOR, "/meldung verkehr Sperrung der B7")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    edit_city(city_file, "      editor: all\n", "      editor: [kultur]\n")
    assert await service.reload_city()
    [refused] = await approve(say, tg, APPROVER, 1)
    assert refused == "#1 geht so nicht: Wer es geschrieben hat, hat die Berechtigung für Verkehr nicht mehr."
    assert await state(service, "1") is State.PENDING_APPROVAL
    assert not received(tg, RESIDENT, "B7")


async def test_an_approvers_role_removed_before_the_time_withholds_scheduled_news(
    say: Say, tg: FakeTelegram, service: Service, city_file: Path, clock: ManualClock
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(EDITOR, "/planen heute 18:00 verkehr Sperrung der B7", replies=2)
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    edit_city(city_file, "      approver: all\n", "      approver: [kultur]\n")
    assert await service.reload_city()
    clock.advance(hours=8)
    await service.upkeep_once()
    for chat in (EDITOR, ADMIN):
        await notified(
            tg, chat, "#1 von Jonas Becker (Presseamt) war fällig, ging aber nicht hinaus: Wer es freigegeben"
        )
    assert not received(tg, RESIDENT, "B7")
    assert await state(service, "1") is State.DRAFT
    withdrawn = [e for e in await entries(service) if e.action == Action.WITHDRAWN]
    assert [(e.broadcast_id, e.detail) for e in withdrawn] == [("1", "approver_lacks_role")]


async def test_an_item_older_than_the_500_newest_still_shows_and_expires(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await say(EDITOR, "/meldung verkehr Der älteste Entwurf")
    assert service.services is not None
    desk = service.services.desk
    member = service.city.staff_member("sternwarte")
    assert member is not None
    observatory = Actor(member, Via.TELEGRAM)
    for number in range(520):  # a busy desk: 520 newer broadcasts, each dropped again
        newer = await desk.draft(observatory, topics=("sternwarte",), text_de=f"Beobachtung {number}")
        await desk.cancel(observatory, newer.id)
    [listing] = await say(EDITOR, "/offen")
    assert "#1 · Entwurf · Verkehr · Jonas Becker (Presseamt): Der älteste Entwurf" in listing
    clock.advance(hours=25)
    await service.upkeep_once()
    await notified(tg, EDITOR, "Ihr Entwurf #1 ist abgelaufen")
    [listing] = await say(EDITOR, "/offen")
    assert "#1 " not in listing


async def test_erasure_and_export_in_chat_are_audited_without_the_resident(
    say: Say, service: Service, redis: aioredis.Redis, key_prefix: str
) -> None:
    resident = 918273645  # long enough not to turn up by chance inside a stream id or a keyed hash
    await subscribe(say, resident, "verkehr")
    await say(resident, "/meinedaten", replies=2)
    await say(resident, "/loeschen")
    await say(resident, "/loeschen ja")
    logged = [e for e in await entries(service) if e.action in (Action.EXPORT, Action.ERASURE)]
    assert [(e.who, e.action, e.via, e.broadcast_id) for e in logged] == [
        ("resident", "export", "telegram", None),
        ("resident", "erasure", "telegram", None),
    ]
    raw: Any = await redis.xrange(f"{key_prefix}:audit")
    assert raw, "the log is not empty"
    assert not any(str(resident) in value for _, fields in raw for value in [*fields, *fields.values()])
