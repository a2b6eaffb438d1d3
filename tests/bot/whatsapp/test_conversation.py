"""The conversation on WhatsApp: typed words without a slash, any case, buttons and lists within limits."""

from __future__ import annotations

import json
import logging

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from city.values import Channel, Resident
from tests.bot.whatsapp.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    RESIDENT,
    RESIDENT_BSUID,
    VERIFY_TOKEN,
    Webhook,
    Write,
)
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph
from tests.traces import traces


async def agree(write: Write) -> list[str]:
    await write("START")
    return await write("Zustimmen", button="/zustimmen de")


async def test_start_consent_and_the_topic_menu_as_a_list_within_whatsapps_limits(
    write: Write, graph: FakeGraph
) -> None:
    answers = await agree(write)
    assert answers[0].startswith("Danke! Ihre Zustimmung ist gespeichert.")
    menu = graph.sent(RESIDENT)[-1]
    assert menu.kind == "interactive"
    interactive = menu.body["interactive"]
    assert interactive["type"] == "list"
    rows = interactive["action"]["sections"][0]["rows"]
    assert len(rows) == 8
    assert all(len(row["title"]) <= 24 for row in rows)
    assert rows[0]["id"] == "/abo verkehr"
    assert graph.refusals == {}


async def test_typed_commands_in_any_case_and_english_aliases(
    write: Write, graph: FakeGraph, wa_service: Service
) -> None:
    await agree(write)
    assert "Verkehr" in (await write("ABO verkehr"))[0]
    assert "Kultur" in (await write("abo Kultur"))[0]
    (picked,) = await write("✅ Verkehr", button="/abbestellen verkehr", row=True)
    assert "Verkehr" in picked  # the list row toggled the topic; the menu comes again
    assert "THEMEN" in (await write("HILFE"))[0]
    assert "THEMEN" in (await write("help"))[0]
    faq = await write("FAQ sperrmüll")
    assert "Sperrmüll" in faq[0]
    privacy = await write("DATENSCHUTZ")
    assert len(privacy) == 2
    assert (await write("SPRACHE en")) == ["From now on I will write to you in English."]
    assert "TOPICS" in (await write("HELP"))[0]
    assert wa_service.services is not None
    record = await wa_service.services.residents.get(Resident(Channel.WHATSAPP, RESIDENT))
    assert record is not None
    assert record.language == "en"
    assert record.topics == frozenset({"kultur"})
    assert graph.refusals == {}


async def test_stop_alone_unsubscribes_from_everything_at_once(write: Write, wa_service: Service) -> None:
    await agree(write)
    await write("ABO verkehr")
    await write("ABO kultur")
    (answer,) = await write("STOP")
    assert "alle Themen abbestellt" in answer
    assert wa_service.services is not None
    record = await wa_service.services.residents.get(Resident(Channel.WHATSAPP, RESIDENT))
    assert record is not None
    assert record.topics == frozenset()
    assert await wa_service.services.residents.audience_size("verkehr", Channel.WHATSAPP) == 0


async def test_kinds_without_text_get_a_hint_and_reactions_and_system_notices_get_nothing(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock
) -> None:
    at = clock().timestamp()
    graph.inbound(RESIDENT)
    hinted = [
        wh.message(
            RESIDENT, "image", {"mime_type": "image/jpeg", "sha256": "abc", "id": "2754859441498128"}, at=at
        ),
        wh.message(RESIDENT, "location", {"latitude": 51.5, "longitude": 7.4, "name": "Rathaus"}, at=at),
        wh.message(RESIDENT, "contacts", [{"name": {"formatted_name": "Max"}, "phones": []}], at=at),
        wh.message(RESIDENT, "unsupported", None, at=at)
        | {"errors": [wh.error(131051, "Message type unknown")]},
        wh.message(RESIDENT, "audio", {"mime_type": "audio/ogg", "id": "1"}, at=at),
    ]
    silent = [
        wh.message(RESIDENT, "reaction", {"message_id": wh.wamid(), "emoji": "👍"}, at=at),
        wh.message(
            RESIDENT,
            "system",
            {"body": "changed", "wa_id": "4915100000000", "type": "user_changed_number"},
            at=at,
        ),
    ]
    for item in hinted + silent:
        assert await webhook.post(messages=[item]) == 200
    await webhook.settled()
    texts = graph.texts(RESIDENT)
    assert len(texts) == len(hinted)
    assert all("HILFE" in text and "/hilfe" not in text for text in texts)
    captioned = wh.message(RESIDENT, "image", {"caption": "hilfe", "id": "2"}, at=at)
    assert await webhook.post(messages=[captioned]) == 200
    await webhook.settled()
    assert "THEMEN" in graph.texts(RESIDENT)[-1]


async def test_a_free_text_question_gets_the_faq_answer_alone_and_hints_name_hilfe(write: Write) -> None:
    await agree(write)
    [answer] = await write("wann hat das bürgerbüro geöffnet")
    assert answer.startswith("Wann hat das Bürgerbüro geöffnet?")
    assert "nicht verstanden" not in answer
    assert "HILFE" not in answer
    assert await write("Raumfahrtprogramm") == [
        "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit HILFE."
    ]
    assert await write("x" * 5000) == [
        "Diese Nachricht ist zu lang für mich. Eine Übersicht aller Befehle gibt es mit HILFE."
    ]


async def test_staff_help_names_the_desk_commands_as_words_to_send(write: Write) -> None:
    kulturamt = "4915100000005"  # editor for kultur, in the example city
    overview, desk = await write("HILFE", wa_id=kulturamt)
    assert "THEMEN" in overview
    assert "Meldungen schreiben – Kultur:" in desk
    assert "MELDUNG <thema> <text> – Meldung entwerfen" in desk
    assert "ANHALTEN <nr>" in desk
    assert "/" not in "".join(line.split(" ", 1)[0] for line in desk.splitlines())
    assert "FREIGEBEN" not in desk
    assert "EILMELDUNG" not in desk


async def test_a_template_quick_reply_button_is_a_command(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock, write: Write
) -> None:
    await agree(write)
    graph.inbound(RESIDENT)
    assert (
        await webhook.post(messages=[wh.quick_reply(RESIDENT, "THEMEN", "Themen", at=clock().timestamp())])
        == 200
    )
    await webhook.settled()
    assert graph.sent(RESIDENT)[-1].body["interactive"]["type"] == "list"


async def test_identity_keeps_wa_id_and_bsuid_and_erasure_leaves_no_whatsapp_trace(
    webhook: Webhook,
    graph: FakeGraph,
    clock: ManualClock,
    write: Write,
    wa_service: Service,
    redis: aioredis.Redis,
) -> None:
    await agree(write)
    await write("ABO verkehr")
    graph.inbound(RESIDENT)
    at = clock().timestamp()
    item = wh.message(RESIDENT, "text", {"body": "MEINEDATEN"}, at=at, user_id=RESIDENT_BSUID)
    assert await webhook.post(messages=[item], contacts=[wh.contact(RESIDENT, user_id=RESIDENT_BSUID)]) == 200
    await webhook.settled()
    assert wa_service.services is not None
    exported = await wa_service.services.residents.export(Resident(Channel.WHATSAPP, RESIDENT))
    assert exported is not None
    assert exported["chat_id"] == RESIDENT
    assert exported["whatsapp_user_id"] == RESIDENT_BSUID
    document = graph.sent(RESIDENT, kind="document")
    assert len(document) == 1
    media_id = document[0].body["document"]["id"]
    assert json.loads(graph.media[media_id][1])["whatsapp_user_id"] == RESIDENT_BSUID

    await write("LOESCHEN")
    (answer,) = await write("loeschen ja")
    assert "gelöscht" in answer
    assert await traces(redis, RESIDENT) == []
    assert await traces(redis, RESIDENT_BSUID) == []
    hasher_keys = [key async for key in redis.scan_iter(match=f"{wa_service.settings.redis_key_prefix}:wa:*")]
    assert hasher_keys == []


async def test_logs_hold_no_numbers_texts_or_secrets_even_at_debug(
    write: Write, webhook: Webhook, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await agree(write)
    await write("ABO verkehr")
    graph.fail(131000, to=RESIDENT)
    await write("Wann hat das Bürgerbüro geöffnet?")
    assert await webhook.post_raw(b'{"entry": "Geheimtext"}', signature="sha256=" + "1" * 64) == 403
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert logged
    for secret in (
        RESIDENT,
        "ABO verkehr",
        "Bürgerbüro",
        "Geheimtext",
        ACCESS_TOKEN,
        APP_SECRET,
        VERIFY_TOKEN,
    ):
        assert secret not in logged
