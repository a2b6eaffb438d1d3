"""A Telegram update read into the core's value. Pure: no storage, no network.

Shapes: https://core.telegram.org/bots/api#update. Only `message` and `callback_query` are asked for
(ALLOWED_UPDATES); anything else, or anything malformed, reads as None and is dropped on purpose. A
message's time is its `date` (when the person wrote it); a pressed button carries no time of its own,
so it counts as pressed when it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    payload = _json(body)
    if payload is None or (number := _int(payload.get("update_id"))) is None:
        return None
    query = payload.get("callback_query")
    if isinstance(query, dict):
        return _callback(number, query, now())
    message = payload.get("message")
    if isinstance(message, dict):
        return _message(number, message, now())
    return None


def _callback(number: int, query: dict[str, Any], now: datetime) -> Update | None:
    message, sender, data = _dict(query, "message"), _dict(query, "from"), query.get("data")
    chat_id, message_id, user_id = _int(_dict(message, "chat").get("id")), _int(message.get("message_id")), \
        _int(sender.get("id"))  # fmt: skip
    if chat_id is None or message_id is None or user_id is None or not isinstance(data, str) or not data:
        return None
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(chat_id),
        sender_id=str(user_id),
        text=data,
        message_id=str(message_id),
        at=now,
        is_button=True,
        language_hint=_str(sender.get("language_code")),
        private_chat=_dict(message, "chat").get("type") == "private",
    )
    return Update(number, inbound, Origin(_str(query.get("id")), message_id))


def _message(number: int, message: dict[str, Any], now: datetime) -> Update | None:
    chat, sender = _dict(message, "chat"), _dict(message, "from")
    chat_id, message_id, user_id = (
        _int(chat.get("id")),
        _int(message.get("message_id")),
        _int(sender.get("id")),
    )
    if chat_id is None or message_id is None or user_id is None:
        return None
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(chat_id),
        sender_id=str(user_id),
        # Photos, stickers and the like arrive without text and get the same hint as free text.
        text=_str(message.get("text")) or _str(message.get("caption")) or "",
        message_id=str(message_id),
        at=_when(message.get("date"), now),
        language_hint=_str(sender.get("language_code")),
        private_chat=chat.get("type") == "private",
    )
    return Update(number, inbound, Origin(None, None))


def _when(date: Any, now: datetime) -> datetime:
    """When the person wrote; a clock on Telegram's side never makes it later than now."""
    seconds = _int(date)
    if seconds is None or seconds <= 0:
        return now
    try:
        return min(datetime.fromtimestamp(seconds, UTC), now)
    except (ValueError, OverflowError, OSError):
        return now


def _json(body: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _dict(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_ID < value < MAX_ID:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
