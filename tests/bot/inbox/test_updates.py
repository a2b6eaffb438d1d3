"""Telegram updates read into the core's values, and kept answers read back: pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.inbox.answers import decode, encode
from bot.telegram.updates import read_update
from city.values import Channel, Resident
from handlers.values import Attachment, Button, Reply

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def update(**fields: object) -> str:
    return json.dumps({"update_id": 7, **fields})


def message(**fields: object) -> dict[str, object]:
    return {
        "message_id": 3,
        "date": int(NOW.timestamp()) - 60,
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "Erika", "language_code": "en"},
        "text": "/hilfe",
    } | fields


def test_a_message_carries_when_it_was_written() -> None:
    read = read_update(update(message=message()), lambda: NOW)
    assert read is not None
    assert (read.update_id, read.inbound.chat_id, read.inbound.text) == (7, "42", "/hilfe")
    assert read.inbound.at == datetime(2026, 11, 23, 8, 59, tzinfo=UTC)
    assert (read.inbound.language_hint, read.inbound.private_chat) == ("en", True)


def test_a_date_in_the_future_counts_as_now_and_a_group_is_no_private_chat() -> None:
    group = {"id": -100123, "type": "supergroup", "title": "Verein"}
    read = read_update(update(message=message(date=int(NOW.timestamp()) + 3600, chat=group)), lambda: NOW)
    assert read is not None
    assert read.inbound.at == NOW
    assert not read.inbound.private_chat


def test_a_pressed_button_counts_as_pressed_now() -> None:
    query = {"id": "q1", "from": {"id": 42}, "message": message(), "data": "/themen"}
    read = read_update(update(callback_query=query), lambda: NOW)
    assert read is not None
    assert (read.inbound.is_button, read.inbound.at, read.origin.callback_id) == (True, NOW, "q1")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"message": message()}),  # no update id
        update(update_id="7", message=message()),
        update(edited_message=message()),  # a kind not asked for
        update(message=message(chat={"id": "42"})),
        update(message=message(**{"from": None})),
        update(callback_query={"id": "q", "from": {"id": 1}, "message": message(), "data": ""}),
    ],
)
def test_anything_else_is_dropped_on_purpose(body: str) -> None:
    assert read_update(body, lambda: NOW) is None


@pytest.mark.parametrize("date", [10**30, 2**62, -5, "yesterday", None])
def test_a_date_that_is_no_time_counts_as_now(date: object) -> None:
    read = read_update(update(message=message(date=date)), lambda: NOW)
    assert read is not None
    assert read.inbound.at == NOW


def test_kept_answers_read_back_as_they_were() -> None:
    replies = [
        Reply("Hallo <b>", buttons=((Button("Ja", "/zustimmen"), Button("No", "/sprache en")),)),
        Reply("Ihre Daten", attachment=Attachment("daten.json", b"\x00{}\xff", "application/json")),
        Reply("Neu", replace=True),
        Reply("Freigabe?", to=Resident(Channel.WHATSAPP, "4915100000003")),
    ]
    assert decode(encode(replies, {"c": "q1", "m": 3})) == (replies, {"c": "q1", "m": 3})
