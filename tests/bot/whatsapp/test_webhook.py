"""The webhook's front door: verification, signatures, size, malformed bodies, durable acknowledgement."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from bot.service import Service
from bot.whatsapp.webhook import MAX_BODY_BYTES
from tests.bot.whatsapp.conftest import RESIDENT, VERIFY_TOKEN, Webhook
from tests.conftest import ManualClock
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph


async def test_verification_echoes_the_challenge_only_for_the_right_token(webhook: Webhook) -> None:
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert await webhook.get(ok) == (200, "1158201444")
    assert (await webhook.get({**ok, "hub.verify_token": "guess"}))[0] == 403
    assert (await webhook.get({**ok, "hub.mode": "unsubscribe"}))[0] == 403
    assert (await webhook.get({"hub.challenge": "1"}))[0] == 403


async def test_unsigned_wrongly_signed_oversize_and_malformed_bodies_are_refused_and_not_processed(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock, redis: aioredis.Redis, wa_service: Service
) -> None:
    raw = wh.encode(
        wh.notification("106540352242922", messages=[wh.text(RESIDENT, "START", at=clock().timestamp())])
    )
    assert await webhook.post_raw(raw, signature=None) == 401
    assert await webhook.post_raw(raw, signature="sha256=" + "0" * 64) == 403
    assert (
        await webhook.post_raw(raw, signature=wh.sign(raw + b" ", "app-secret-for-the-tests-0123456789"))
        == 403
    )
    assert await webhook.post_raw(raw, signature="sha1=abc") == 403
    big = b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert await webhook.post_raw(big) == 413
    assert await webhook.post_raw(b'{"object": "whatsapp_business_account", "entry": [') == 400
    assert await webhook.post_raw(b"\xff\xfe\x00garbage") == 400
    assert await webhook.post_raw(b"[1, 2, 3]") == 400
    assert await webhook.post_raw(b"") == 400
    assert wa_service.storage is not None
    assert await redis.xlen(wa_service.storage.keys.whatsapp_inbox()) == 0
    assert graph.calls == []


async def test_a_signed_body_is_stored_before_the_200_and_answered_after_it(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock
) -> None:
    first = wh.text(RESIDENT, "START", at=clock().timestamp())
    graph.inbound(RESIDENT)
    assert await webhook.post(messages=[first]) == 200
    await graph.wait_for(lambda g: any(c.kind == "interactive" for c in g.sent(RESIDENT)))
    # Short enough for one interactive message: the privacy notice is a button (or DATENSCHUTZ) away.
    [welcome] = graph.sent(RESIDENT)
    assert "Willkommen" in welcome.text
    assert "Lesen können Sie sie mit DATENSCHUTZ. Ihre Zustimmung widerrufen Sie jederzeit mit LOESCHEN." in (
        welcome.text
    )
    buttons = welcome.body["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["/zustimmen de", "/datenschutz", "/sprache en"]
    assert first["id"] in graph.read_receipts()


async def test_one_body_with_several_messages_and_a_repeated_id_is_answered_once_per_message(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock
) -> None:
    at = clock().timestamp()
    graph.inbound(RESIDENT)
    graph.inbound("4915199999999")
    hilfe = wh.text(RESIDENT, "HILFE", at=at)
    other = wh.text("4915199999999", "hilfe", at=at)
    body = wh.notification(
        "106540352242922",
        contacts=[wh.contact(RESIDENT), wh.contact("4915199999999")],
        messages=[hilfe, other, dict(hilfe)],
    )
    assert await webhook.post_raw(json.dumps(body).encode()) == 200
    assert await webhook.post_raw(json.dumps(body).encode()) == 200  # Meta delivers at least once
    await webhook.settled()
    assert len(graph.sent(RESIDENT)) == 1
    assert len(graph.sent("4915199999999")) == 1
    assert "THEMEN" in graph.texts(RESIDENT)[0]


async def test_notifications_for_another_number_and_error_notices_are_taken_without_answers(
    webhook: Webhook, graph: FakeGraph, clock: ManualClock
) -> None:
    foreign = wh.notification("999999999", messages=[wh.text(RESIDENT, "HILFE", at=clock().timestamp())])
    assert await webhook.post_raw(wh.encode(foreign)) == 200
    assert await webhook.post(errors=[wh.error(131000, "Something went wrong")]) == 200
    await webhook.settled()
    assert graph.sent() == []
