"""A Telegram update read into the core's value. Pure: no storage, no network.

python-telegram-bot's data model reads the update (https://core.telegram.org/bots/api#update). Only
`message` and `callback_query` are asked for (ALLOWED_UPDATES); anything else, or anything malformed, reads
as None and is dropped on purpose. A message's time is its `date` (when the person wrote it); a pressed
button carries no time of its own, so it counts as pressed when it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import CallbackQuery, Message
from telegram import Update as TelegramUpdate

from city.values import Channel
from handlers.values import Inbound

ALLOWED_UPDATES = ["message", "callback_query"]
# Telegram's ids are 64-bit integers at most; longer numbers are not Telegram's.
MAX_ID = 2**63


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an inbound came from, for answering it: a pressed button is answered and may be edited."""

    callback_id: str | None
    message_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {"c": self.callback_id, "m": self.message_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Origin:
        return cls(data.get("c"), data.get("m"))


@dataclass(frozen=True, slots=True)
class Update:
    update_id: int
    inbound: Inbound
    origin: Origin


def update_id(body: str) -> int | None:
    """The id of a stored update, or None when the body is none."""
    payload = _json(body)
    return _int(payload.get("update_id")) if payload is not None else None


def read_update(body: str, now: Callable[[], datetime]) -> Update | None:
    """python-telegram-bot reads the update (the Bot API's own data model); what it cannot read, or what
    lacks a chat, a sender or an id, reads as None."""
    payload = _json(body)
    if payload is None or _int(payload.get("update_id")) is None:
        return None
    try:
        update = TelegramUpdate.de_json(payload, None)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
        return None
    if update is None:
        return None
    if (query := update.callback_query) is not None:
        return _callback(update.update_id, query, now())
    if (message := update.message) is not None:
        return _message(update.update_id, message, now())
    return None


def _callback(number: int, query: CallbackQuery, now: datetime) -> Update | None:
    message = query.message
    if message is None or not _fits(message.chat.id, message.message_id, query.from_user.id):
        return None
    if not isinstance(query.data, str) or not query.data:
        return None
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(message.chat.id),
        sender_id=str(query.from_user.id),
        text=query.data,
        message_id=str(message.message_id),
        at=now,
        is_button=True,
        language_hint=_str(query.from_user.language_code),
        private_chat=message.chat.type == "private",
    )
    return Update(number, inbound, Origin(_str(query.id), message.message_id))


def _message(number: int, message: Message, now: datetime) -> Update | None:
    sender = message.from_user
    if sender is None or not _fits(message.chat.id, message.message_id, sender.id):
        return None
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(message.chat.id),
        sender_id=str(sender.id),
        # Photos, stickers and the like arrive without text and get the same hint as free text.
        text=_str(message.text) or _str(message.caption) or "",
        message_id=str(message.message_id),
        at=_when(message.date, now),
        language_hint=_str(sender.language_code),
        private_chat=message.chat.type == "private",
    )
    return Update(number, inbound, Origin(None, None))


def _when(date: datetime | None, now: datetime) -> datetime:
    """When the person wrote; a clock on Telegram's side never makes it later than now."""
    if date is None or date.timestamp() <= 0:
        return now
    return min(date.astimezone(UTC), now)


def _fits(*ids: Any) -> bool:
    return all(_int(value) is not None for value in ids)


def _json(body: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_ID < value < MAX_ID:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
