"""A resident's whole path on Telegram, through the real service, the Bot API stand-in and Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from broadcasts.model import Broadcast, State
from tests.bot.conftest import Say, edit_city, settled
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram, UploadedFile
from tests.traces import traces

CHAT = 4711


PERSONAL = (":res:", ":aud:", ":stats:")


async def stored_keys(redis: aioredis.Redis, prefix: str) -> list[str]:
    """Keys that hold residents' data. The service's own bookkeeping (sender heartbeats, the reply
    limiter's keyed hashes) is left out here; `traces` checks every key and value for the id."""
    return sorted([k async for k in redis.scan_iter(match=f"{prefix}:*") if any(p in k for p in PERSONAL)])


async def agree(say: Say, chat: int = CHAT, language: str = "de") -> None:
    await say(chat, "/start", language_code=language)
    await say(chat, "/zustimmen", language_code=language)


async def test_start_shows_privacy_and_consent_and_stores_nothing(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str
) -> None:
    before = await stored_keys(redis, key_prefix)
    [welcome] = await say(CHAT, "/start")
    assert "Willkommen beim Stadtfunk von Beispielstadt" in welcome
    assert "Datenschutzerklärung (Version 2026-11-01)" in welcome
    markup = tg.sent(CHAT)[-1].params["reply_markup"]["inline_keyboard"]
    assert markup[0][0] == {"text": "✅ Ich stimme zu", "callback_data": "/zustimmen de"}
    assert markup[1][0]["callback_data"] == "/sprache en"
    assert await stored_keys(redis, key_prefix) == before
    assert await traces(redis, str(CHAT)) == []


async def test_consent_by_button_records_time_and_version_and_offers_topics(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    await say(CHAT, "/start")
    pressed_at = clock()
    [menu] = await say(CHAT, "/zustimmen de", button=True)
    assert "Danke! Ihre Zustimmung ist gespeichert" in menu
    assert tg.sent(None, "answerCallbackQuery"), "the button's spinner must be answered"
    record = await redis.hgetall(f"{key_prefix}:res:{{tg:{CHAT}}}")
    # Recorded when the button was handled: before the reply's pacing moved the clock on.
    # The history of consents, one per version agreed to: for now the one.
    assert json.loads(record.pop("consents")) == [{"version": "2026-11-01", "at": pressed_at.isoformat()}]
    assert record == {"language": "de", "consent_at": pressed_at.isoformat(), "consent_version": "2026-11-01"}
    buttons = [row[0]["callback_data"] for row in tg.calls[-1].params["reply_markup"]["inline_keyboard"]]
    assert "/abo verkehr" in buttons


async def test_subscribe_by_id_name_and_umlaut_spelling(
    say: Say, redis: aioredis.Redis, key_prefix: str
) -> None:
    await agree(say)
    assert await say(CHAT, "/abo verkehr") == [
        "✅ Sie erhalten jetzt Meldungen zum Thema „Verkehr“.\nZustellung: sofort (ändern: /zustellung)"
    ]
    assert await say(CHAT, "/abo BAUSTELLEN") == [
        "✅ Sie erhalten jetzt Meldungen zum Thema „Baustellen“.\nZustellung: sofort (ändern: /zustellung)"
    ]
    assert await say(CHAT, "/abo Familie & Bildung") == [
        "✅ Sie erhalten jetzt Meldungen zum Thema „Familie & Bildung“."
        "\nZustellung: sofort (ändern: /zustellung)"
    ]
    assert await say(CHAT, "/abo roadworks") == ["Sie haben „Baustellen“ bereits abonniert."]
    assert await say(CHAT, "/subscribe Feuerwehr") == [
        "✅ Sie erhalten jetzt Meldungen zum Thema „Feuerwehr & Krisen“."
        "\nZustellung: sofort (ändern: /zustellung)"
    ]
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}") == {str(CHAT)}
    assert await redis.smembers(f"{key_prefix}:res:{{tg:{CHAT}}}:topics") == {
        "verkehr",
        "baustellen",
        "familie",
        "feuerwehr",
    }


async def test_umlauts_and_ae_are_the_same(say: Say) -> None:
    await agree(say)
    await say(CHAT, "/abo ratssitzungen")
    [listed] = await say(CHAT, "/abbestellen RATSSITZUNGEN")
    assert listed == "Sie erhalten keine Meldungen mehr zum Thema „Ratssitzungen“."
    [answer] = await say(CHAT, "/löschen")
    assert answer.startswith("Wirklich alles löschen?")
    [answer] = await say(CHAT, "/sprache Englisch")
    assert answer == "From now on I will write to you in English."


async def test_topic_menu_toggles_in_place(say: Say, tg: FakeTelegram) -> None:
    await agree(say)
    [menu] = await say(CHAT, "/themen")
    assert "▫️ Verkehr" in menu
    menu_id = tg.messages(CHAT)[-1]["message_id"]
    edited = await say(CHAT, "/abo kultur", button=True)
    assert tg.calls[-1].method == "editMessageText"
    assert tg.calls[-1].params["message_id"] == menu_id
    assert "✅ Kultur" in edited[0]
    assert "✅ Kultur" in tg.messages(CHAT)[-1]["text"]
    edited = await say(CHAT, "/abbestellen kultur", button=True)
    assert "▫️ Kultur" in edited[0]
    [listing] = await say(CHAT, "/topics")
    assert "▫️ Kultur" in listing


async def test_english_resident_with_mixed_commands(say: Say, tg: FakeTelegram) -> None:
    [welcome] = await say(CHAT, "/start", language_code="en-GB")
    assert welcome.startswith("Welcome to the Beispielstadt Stadtfunk!")
    [menu] = await say(CHAT, "/agree", language_code="en-GB")
    assert menu.startswith("Thank you! Your consent is stored.")
    assert "Traffic" in menu
    assert await say(CHAT, "/abo traffic") == [
        "✅ You now receive news on “Traffic”.\nDelivery: at once (change: /delivery)"
    ]
    assert await say(CHAT, "/subscribe Kultur") == [
        "✅ You now receive news on “Culture”.\nDelivery: at once (change: /delivery)"
    ]
    [unknown] = await say(CHAT, "/subscribe spaceflight")
    assert unknown.startswith("I don't know the topic “spaceflight”. Available are: Traffic (verkehr)")
    [help_text] = await say(CHAT, "/help")
    assert "/subscribe <topic>" in help_text


async def test_language_switch_before_consent_changes_only_the_welcome(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str
) -> None:
    before = await stored_keys(redis, key_prefix)
    [welcome] = await say(CHAT, "/sprache en")
    assert welcome.startswith("Welcome to the Beispielstadt Stadtfunk!")
    assert (
        tg.sent(CHAT)[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/zustimmen en"
    )
    assert await stored_keys(redis, key_prefix) == before
    [menu] = await say(CHAT, "/zustimmen en", button=True)
    assert menu.startswith("Thank you!")
    [german] = await say(CHAT, "/language de")
    assert german == "Ab jetzt schreibe ich Ihnen auf Deutsch."
    [choose] = await say(CHAT, "/sprache klingonisch")
    assert choose == "Bitte wählen Sie eine Sprache: /sprache de oder /sprache en."


async def test_unsubscribe_all_asks_first(say: Say, redis: aioredis.Redis, key_prefix: str) -> None:
    await agree(say)
    await say(CHAT, "/abo verkehr")
    await say(CHAT, "/abo kultur")
    [question] = await say(CHAT, "/abbestellen")
    assert "alle 2 Themen abbestellen" in question
    assert await redis.scard(f"{key_prefix}:res:{{tg:{CHAT}}}:topics") == 2
    [done] = await say(CHAT, "/abbestellen ja", button=True)
    assert done.startswith("Sie haben alle Themen abbestellt.")
    assert await redis.scard(f"{key_prefix}:aud:{{verkehr:tg}}") == 0
    assert await say(CHAT, "/unsubscribe all") == ["Sie haben derzeit keine Themen abonniert."]


async def test_help_in_both_languages(say: Say) -> None:
    [german] = await say(CHAT, "/hilfe")
    assert "/abo <thema>" in german
    assert "/loeschen" in german
    [english] = await say(CHAT, "/help", language_code="en")
    assert "/subscribe <topic>" in english


async def test_faq_list_keyword_number_and_no_match(say: Say, tg: FakeTelegram) -> None:
    [listing] = await say(CHAT, "/faq")
    assert "1. Wie melde ich Sperrmüll an?" in listing
    assert tg.sent(CHAT)[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/faq 1"
    [answer] = await say(CHAT, "/faq Sperrmuell")
    assert answer.startswith("Wie melde ich Sperrmüll an?")
    [answer] = await say(CHAT, "/faq 3")
    assert answer.startswith("Wie beantrage ich einen neuen Personalausweis?")
    [none] = await say(CHAT, "/faq Raumfahrtprogramm")
    assert none.startswith("Dazu habe ich keine Antwort gefunden.")
    assert "presse@beispielstadt.de" in none
    [english] = await say(CHAT, "/faq dog tax", language_code="en")
    assert english.startswith("Do I have to register my dog?")


async def test_free_text_question_gets_the_faq_answer_alone(say: Say) -> None:
    [answer] = await say(CHAT, "Wann hat das Bürgerbüro geöffnet?")
    assert answer.startswith("Wann hat das Bürgerbüro geöffnet?")
    assert "nicht verstanden" not in answer
    assert "/hilfe" not in answer
    [english] = await say(CHAT, "When is the citizens' office open?", language_code="en")
    assert "understand" not in english
    [unknown] = await say(CHAT, "Raumfahrtprogramm")
    assert unknown == "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit /hilfe."


async def test_privacy_netiquette_and_alternative_channels(say: Say) -> None:
    notice, rest = await say(CHAT, "/datenschutz", replies=2)
    assert notice.startswith("Datenschutz (Version 2026-11-01)")
    assert "Netiquette" in rest
    assert "Amtsblatt" in rest
    assert "Kontakt:" in rest
    notice, _ = await say(CHAT, "/privacy", language_code="en", replies=2)
    assert notice.startswith("Privacy notice (version 2026-11-01)")


async def test_my_data_without_record_writes_nothing(
    say: Say, redis: aioredis.Redis, key_prefix: str
) -> None:
    before = await stored_keys(redis, key_prefix)
    assert await say(CHAT, "/meinedaten") == ["Über Sie ist nichts gespeichert."]
    assert await say(CHAT, "/mydata", language_code="en") == ["Nothing is stored about you."]
    assert await stored_keys(redis, key_prefix) == before


async def test_my_data_export_is_readable_and_json(say: Say, tg: FakeTelegram, clock: ManualClock) -> None:
    await say(CHAT, "/start")
    agreed_at = clock()
    await say(CHAT, "/zustimmen")
    await say(CHAT, "/abo verkehr")
    texts = await say(CHAT, "/meinedaten", replies=2)
    assert "Themen: Verkehr" in texts[0]
    assert f"Kennung: {CHAT}" in texts[0]
    document = tg.sent(CHAT, "sendDocument")[-1].params["document"]
    assert isinstance(document, UploadedFile)
    assert document.filename == "stadtfunk-meine-daten.json"
    exported = json.loads(document.content)
    assert exported == {
        "messenger": "telegram",
        "chat_id": str(CHAT),
        "language": "de",
        "consent": {
            "at": agreed_at.isoformat(),
            "privacy_notice_version": "2026-11-01",
            "history": [{"privacy_notice_version": "2026-11-01", "at": agreed_at.isoformat()}],
        },
        "topics": ["verkehr"],
        "delivery": "every item at once",
        "daily_digest_since": None,
        "inactive_since": None,
        "asked_to_agree_to_privacy_notice_version": None,
    }


async def broadcast_to(service: Service, clock: ManualClock, text: str, topic: str = "verkehr") -> str:
    """Staff's side, as the staff workflow will do it: create, approve, enqueue."""
    assert service.engine is not None
    store = service.engine.store
    draft = Broadcast(id="", topics=(topic,), text_de=text, author="presse-redaktion", created_at=clock())
    created = await store.create(draft)
    await store.approve(created.id, created.version, "presse-freigabe")
    # Past the per-chat pacing of the replies just sent, so the sender need not wait for the clock.
    clock.advance(seconds=5)
    await service.engine.enqueue(created.id)
    return created.id


async def until_done(service: Service, tg: FakeTelegram, broadcast_id: str) -> None:
    """Settling follows the last send by a Redis round trip; wait for it by watching the state."""
    assert service.engine is not None
    for _ in range(500):
        if (await service.engine.progress(broadcast_id)).state is State.DONE:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"broadcast {broadcast_id} did not finish")


@pytest.mark.every_redis_mode  # the trace scan walks every primary of a cluster
async def test_erasure_leaves_no_trace(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, redis: aioredis.Redis, key_prefix: str
) -> None:
    other = 99999001
    await agree(say)
    await agree(say, other)
    await say(other, "/abo verkehr")
    for topic in ("verkehr", "kultur", "feuerwehr"):
        await say(CHAT, f"/abo {topic}")
    await say(CHAT, "/meinedaten", replies=2)
    # The resident has received broadcasts ...
    first = await broadcast_to(service, clock, "Sperrung der B7")
    await tg.wait_for(lambda t: len([x for x in t.texts() if "Sperrung der B7" in x]) == 2)
    await until_done(service, tg, first)
    [question] = await say(CHAT, "/loeschen")
    assert "Wirklich alles löschen?" in question
    assert await redis.exists(f"{key_prefix}:res:{{tg:{CHAT}}}")
    # ... and one is on its way while they confirm the erasure.
    tg.hold("sendMessage")
    pending = await broadcast_to(service, clock, "Umleitung ab Montag")
    await tg.wait_for(lambda t: len(t.held) == 2)
    tg.push_callback(CHAT, "/loeschen ja")
    # The confirmation replaces the question (an edit, which the hold does not stop).
    await tg.wait_for(
        lambda t: any(
            "Erledigt: Alle Ihre" in str(c.params.get("text")) for c in t.sent(CHAT, "editMessageText")
        )
    )
    tg.release()
    await until_done(service, tg, pending)
    await settled(service)  # the confirmation's update, deleted once its answer is out
    assert await traces(redis, str(CHAT)) == []
    # Everyone else is untouched.
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}") == {str(other)}
    assert await say(CHAT, "/meinedaten") == ["Über Sie ist nichts gespeichert."]
    assert await traces(redis, str(CHAT)) == []
    assert await traces(redis, str(other)) != [], "the scan must be able to find a resident"


async def test_daily_statistics_hold_only_counts(say: Say, redis: aioredis.Redis, key_prefix: str) -> None:
    await agree(say)
    await say(CHAT, "/abo verkehr")
    await say(CHAT, "/abbestellen verkehr")
    stats = await redis.hgetall(f"{key_prefix}:stats:2026-11-23")
    assert stats == {"subscribe:verkehr:tg": "1", "unsubscribe:verkehr:tg": "1"}
    assert 0 < await redis.ttl(f"{key_prefix}:stats:2026-11-23") <= 400 * 86400


async def test_command_menu_registered_in_both_languages(service: Service, tg: FakeTelegram) -> None:
    german = tg.commands_for(language_code="")
    english = tg.commands_for(language_code="en")
    assert german is not None
    assert english is not None
    assert {"command": "themen", "description": "Themen anzeigen und auswählen"} in german
    assert {"command": "topics", "description": "Show and choose topics"} in english


async def test_blocked_resident_is_deactivated_and_returns(
    say: Say, tg: FakeTelegram, redis: aioredis.Redis, key_prefix: str
) -> None:
    await agree(say)
    await say(CHAT, "/abo verkehr")
    tg.block(CHAT)
    tg.push_message(CHAT, "/hilfe")
    await tg.wait_for(lambda t: any(c.status == 403 for c in t.calls))
    # Updates are handled one after another: once another chat is answered, the 403 has been handled.
    await say(CHAT + 1, "/hilfe")
    assert await redis.hexists(f"{key_prefix}:res:{{tg:{CHAT}}}", "inactive_since")
    assert await redis.scard(f"{key_prefix}:aud:{{verkehr:tg}}") == 0
    tg.unblock(CHAT)
    await say(CHAT, "/themen")
    assert "inactive_since" not in await redis.hgetall(f"{key_prefix}:res:{{tg:{CHAT}}}")
    assert await redis.smembers(f"{key_prefix}:aud:{{verkehr:tg}}") == {str(CHAT)}


async def test_commands_addressed_to_the_bot_by_name(say: Say) -> None:
    [answer] = await say(CHAT, "/hilfe@stadtfunk_test_bot")
    assert "/abo <thema>" in answer


async def test_a_changed_privacy_notice_asks_for_consent_again(
    say: Say, service: Service, city_file: Path, redis: aioredis.Redis, key_prefix: str
) -> None:
    await agree(say)
    await say(CHAT, "/abo verkehr")
    edit_city(city_file, 'version: "2026-11-01"', 'version: "2027-01-01"')
    assert await service.reload_city()
    [changed] = await say(CHAT, "/abo kultur")
    assert changed.startswith("Unsere Datenschutzerklärung hat sich geändert (Version 2027-01-01).")
    assert await redis.smembers(f"{key_prefix}:res:{{tg:{CHAT}}}:topics") == {"verkehr"}
    [help_text] = await say(CHAT, "/hilfe")
    assert help_text.startswith("So funktioniert der Stadtfunk")
    assert await say(CHAT, "/zustimmen") == [
        "Danke! Ihre Zustimmung zur Datenschutzerklärung (Version 2027-01-01) ist gespeichert."
    ]
    assert await redis.hget(f"{key_prefix}:res:{{tg:{CHAT}}}", "consent_version") == "2027-01-01"
    [subscribed] = await say(CHAT, "/abo kultur")
    assert subscribed.startswith("✅ Sie erhalten jetzt Meldungen zum Thema")
