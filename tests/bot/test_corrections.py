"""/korrektur and /widerruf through the running service and the Bot API stand-in: four eyes like the
original, break-glass for an alert's, edited in place with one note each, too late after correction_days,
every step audited with the old and new content hashes."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from bot.service import Service
from broadcasts.audit import Action
from broadcasts.version import short
from tests.bot.conftest import Say, approve, edit_city
from tests.bot.test_four_eyes import entries, received
from tests.bot.test_staff_flow import APPROVER, EDITOR, FIRE, RESIDENT, notified, subscribe, until_state
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram

NEIGHBOUR = 778


async def sent_alert(say: Say, tg: FakeTelegram) -> dict[int, int]:
    """An approved alert that reached two residents; the message id each of them got."""
    for chat in (RESIDENT, NEIGHBOUR):
        await subscribe(say, chat, "feuerwehr")
    await say(FIRE, "/eilmeldung feuerwehr Großbrand im Hafen, Fenster schließen", replies=2)
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    await tg.wait_for(lambda t: received(t, RESIDENT, "Großbrand") and received(t, NEIGHBOUR, "Großbrand"))
    return {
        chat: int(next(c for c in tg.sent(chat) if "Großbrand" in c.params["text"]).result_id or 0)
        for chat in (RESIDENT, NEIGHBOUR)
    }


async def test_a_corrected_alert_is_edited_for_every_recipient_after_a_second_persons_approval(
    say: Say, tg: FakeTelegram, service: Service
) -> None:
    originals = await sent_alert(say, tg)
    made, submitted = await say(FIRE, "/korrektur 1 Großbrand im Hafen gelöscht, Fenster öffnen", replies=2)
    assert made.startswith("✏️ Korrektur #2 zu Meldung #1 ist angelegt.")
    assert submitted.startswith("#2 ist zur Freigabe eingereicht.")
    await notified(tg, APPROVER, "bittet um Freigabe von #2")
    request = html.unescape(tg.sent(APPROVER)[-1].params["text"])
    assert "✏️ Korrektur der Meldung #1. Ihre Empfänger lesen danach:" in request
    assert not tg.sent(RESIDENT, "editMessageText"), "nothing changes before the approval"
    [own] = await say(FIRE, "/freigeben 2")
    assert own.startswith("Ihre eigene Meldung #2 können Sie nicht selbst freigeben")

    await approve(say, tg, APPROVER, 2)

    def corrected(chat: int) -> Callable[[FakeTelegram], bool]:
        return lambda t: "wurde korrigiert" in str(t.sent(chat)[-1].params["text"])

    for chat, message_id in originals.items():
        await tg.wait_for(corrected(chat))
        assert len(tg.sent(chat, "editMessageText")) == 1
        edited = next(m for m in tg.messages(chat) if m["message_id"] == message_id)
        assert html.unescape(edited["text"]).startswith("✏️ Korrigiert am ")
        assert "gelöscht, Fenster öffnen" in edited["text"]
        assert "schließen" not in edited["text"]
        notes = [c for c in tg.sent(chat) if "reply_parameters" in c.params]
        assert [c.params["reply_parameters"]["message_id"] for c in notes] == [message_id]

    audited = [e for e in await entries(service) if e.action == Action.CORRECT]
    assert len(audited) == 1
    assert service.engine is not None
    original, correction = await service.engine.store.many(["1", "2"])
    assert original is not None
    assert correction is not None
    assert audited[0].detail == f"of 1: old {original.version} new {correction.version}"
    assert audited[0].version == correction.version
    assert short(original.version) != short(correction.version)


async def test_an_alerts_correction_goes_break_glass_where_alerts_need_no_approval(
    say: Say, tg: FakeTelegram, service: Service, city_file: Path
) -> None:
    edit_city(city_file, "alerts_need_approval: true", "alerts_need_approval: false")
    assert await service.reload_city()
    await subscribe(say, RESIDENT, "feuerwehr")
    await say(FIRE, "/eilmeldung feuerwehr Unwetter: Keller räumen", replies=2)
    await tg.wait_for(lambda t: received(t, RESIDENT, "Keller räumen"))
    tg.hold("editMessageText")  # the retraction is on its way while the progress is shown
    made, sent = await say(FIRE, "/widerruf 1 Falscher Alarm", replies=2)
    assert service.reporter is not None
    await tg.wait_for(lambda t: bool(t.held))
    await service.reporter.tick()
    tg.release()
    assert made.startswith("❌ Widerruf #2 zu Meldung #1 ist angelegt.")
    assert sent.startswith("Eilmeldung #2 geht sofort hinaus.")
    await tg.wait_for(lambda t: len(t.sent(RESIDENT, "editMessageText")) == 1)
    alert = next(c for c in tg.sent(RESIDENT) if "Keller" in c.params["text"])
    withdrawn = html.unescape(
        next(m for m in tg.messages(RESIDENT) if m["message_id"] == alert.result_id)["text"]
    )
    assert withdrawn.startswith("❌ Zurückgezogen am ")
    assert "Keller" not in withdrawn
    await notified(tg, APPROVER, "ging ohne Freigabe hinaus")
    # Its progress shows in its author's chat like any broadcast's: an edit and a note, both delivered.
    await until_state(service, "2", "done")
    await service.reporter.tick()
    progress = [str(c.params["text"]) for c in tg.calls if c.chat_id == str(FIRE) and "text" in c.params]
    assert any(text.startswith("#2 gesendet: 2 von 2 zugestellt") for text in progress)
    actions = [e.action for e in await entries(service) if e.broadcast_id == "2"]
    assert actions == [Action.RETRACT, Action.SEND, Action.BREAK_GLASS]


async def test_news_corrections_need_an_approver_of_its_topics(say: Say, tg: FakeTelegram) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await say(EDITOR, "/meldung verkehr Die B7 ist gesperrt.")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    await tg.wait_for(lambda t: received(t, RESIDENT, "B7"))
    [refused] = await say(FIRE, "/korrektur 1 Die B8 ist gesperrt.")
    assert refused == "Dafür fehlt Ihnen die Berechtigung für: Verkehr."
    _, submitted = await say(EDITOR, "/correct 1 Die B8 ist gesperrt.\nEN: The B8 is closed.", replies=2)
    assert submitted.startswith("#2 ist zur Freigabe eingereicht.")
    await notified(tg, APPROVER, "bittet um Freigabe von #2")
    await approve(say, tg, APPROVER, 2)
    await tg.wait_for(lambda t: len(t.sent(RESIDENT, "editMessageText")) == 1)


async def test_past_correction_days_it_is_too_late_and_unsent_ones_are_edited_instead(
    say: Say, tg: FakeTelegram, clock: ManualClock
) -> None:
    await sent_alert(say, tg)
    clock.advance(days=7, minutes=1)
    [late] = await say(FIRE, "/korrektur 1 Doch nicht")
    assert late.startswith(
        "#1 ist älter als 7 Tage und kann nicht mehr korrigiert oder zurückgezogen werden."
    )
    await say(EDITOR, "/meldung verkehr Entwurf")
    [unsent] = await say(EDITOR, "/widerruf 2")
    assert unsent.startswith("#2 ist noch nicht hinausgegangen.")
    [usage] = await say(EDITOR, "/korrektur 2")
    assert usage.startswith("Bitte geben Sie die Nummer und den richtigen Text an")
    [unknown] = await say(EDITOR, "/korrektur 99 Text")
    assert "99" in unknown
