"""The pure reading of a webhook body into values: no storage, no clock, nothing raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.whatsapp.inbound import IncomingMessage, Notification, StatusUpdate, parse
from tests.fakes import whatsapp_webhooks as wh

NUMBER = "106540352242922"
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()


def body(**value: object) -> str:
    return json.dumps(wh.notification(NUMBER, **value))


def test_a_text_is_read_with_its_sender_time_and_business_user_id() -> None:
    raw = wh.text("4915112345678", "Hallo", at=AT, message_id="wamid.1")
    found = parse(body(contacts=[wh.contact("4915112345678", user_id="DE.123")], messages=[raw]), NUMBER)
    assert found == Notification(
        messages=(
            IncomingMessage(
                chat_id="4915112345678",
                message_id="wamid.1",
                kind="text",
                text="Hallo",
                is_button=False,
                at=datetime.fromtimestamp(AT, UTC),
                user_id="DE.123",
            ),
        )
    )


@pytest.mark.parametrize(
    ("raw", "text", "is_button"),
    [
        (wh.button_reply("491", "/themen", "Themen", at=AT), "/themen", True),
        (wh.list_reply("491", "/thema verkehr", "Verkehr", at=AT), "/thema verkehr", True),
        (wh.quick_reply("491", "START", "Los", at=AT), "START", False),
        (
            wh.message("491", "image", {"id": "m1", "caption": "Foto vom Schlagloch"}, at=AT),
            "Foto vom Schlagloch",
            False,
        ),
        (wh.message("491", "sticker", {"id": "m2"}, at=AT), "", False),
    ],
)
def test_what_was_said_depends_on_the_kind(raw: dict[str, object], text: str, is_button: bool) -> None:
    found = parse(body(messages=[raw]), NUMBER)
    assert found is not None
    assert [(m.text, m.is_button) for m in found.messages] == [(text, is_button)]


def test_the_same_message_or_status_twice_in_one_body_appears_once() -> None:
    raw = wh.text("491", "Hallo", at=AT, message_id="wamid.dup")
    read = wh.status("wamid.out", "read", "491", at=AT, tag="7")
    found = parse(body(messages=[raw, raw], statuses=[read, read]), NUMBER)
    assert found is not None
    assert [m.message_id for m in found.messages] == ["wamid.dup"]
    assert found.statuses == (StatusUpdate("wamid.out", "read", "491", "7", ()),)


def test_a_failed_status_carries_its_error_codes() -> None:
    failed = wh.status("wamid.out", "failed", "491", at=AT, errors=[wh.error(131048), {"code": "x"}])
    found = parse(body(statuses=[failed]), NUMBER)
    assert found is not None
    assert found.statuses[0].error_codes == (131048, None)


def test_another_numbers_notification_and_malformed_parts_are_left_out() -> None:
    other = json.dumps(wh.notification("999", messages=[wh.text("491", "Hallo", at=AT)]))
    assert parse(other, NUMBER) == Notification()
    broken = [
        {"from": "491", "type": "text"},  # no id
        {"id": "wamid.x", "type": "text"},  # no sender
        {"from": "4" * 65, "id": "wamid.y", "type": "text"},  # no wa_id is that long
        "not an object",
    ]
    assert parse(body(messages=broken, statuses=[{"id": "w", "status": "read"}]), NUMBER) == Notification()


def test_an_unreadable_timestamp_is_none_and_not_json_is_none() -> None:
    raw = wh.text("491", "Hallo", at=AT)
    raw["timestamp"] = "gestern"
    found = parse(body(messages=[raw]), NUMBER)
    assert found is not None
    assert found.messages[0].at is None
    assert parse("{not json", NUMBER) is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_any_json_at_all_is_read_without_raising(payload: object) -> None:
    found = parse(json.dumps(payload), NUMBER)
    assert isinstance(found, Notification)
