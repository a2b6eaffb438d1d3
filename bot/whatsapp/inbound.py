"""A webhook notification's body read into values: what people wrote, what became of our messages.

Pure: no storage, no clock. Shapes: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components.
Every field is read defensively: a body is verified as Meta's, but its content may still surprise, so
anything malformed is left out rather than raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Kinds that carry no text for the core; with a caption, the caption is what the person said.
CAPTIONED = frozenset({"image", "video", "document"})
# Not addressed to anyone: a reaction to an earlier message, a number change notice. Every other kind
# without words (audio, sticker, location, …) reaches the core as empty text, which answers with HILFE.
IGNORED = frozenset({"reaction", "system", "ephemeral", "request_welcome"})
MAX_CHAT_ID = 64
MAX_MESSAGE_ID = 256


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    chat_id: str  # the wa_id (phone number), or the business-scoped user id when no number is given
    message_id: str
    kind: str
    text: str
    is_button: bool  # pressed one of our buttons: the text is the command it stands for
    at: datetime | None  # when the person wrote, as Meta says; None when unreadable
    user_id: str  # the business-scoped user id beside the number; "" when not given

    @property
    def ignored(self) -> bool:
        return self.kind in IGNORED


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    message_id: str
    state: str  # sent, delivered, read, failed
    recipient: str
    tag: str  # what we echoed in biz_opaque_callback_data: a broadcast id, or ""
    error_codes: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class Notification:
    messages: tuple[IncomingMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    error_codes: tuple[int | None, ...] = ()


def parse(body: str, phone_number_id: str) -> Notification | None:
    """The parts of a notification addressed to this number; None when the body is not JSON.

    One body may carry the same message or status twice: each appears once here."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    messages: dict[str, IncomingMessage] = {}
    statuses: dict[tuple[str, str], StatusUpdate] = {}
    errors: list[int | None] = []
    for value in _values(payload):
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and str(metadata.get("phone_number_id", "")) != phone_number_id:
            continue  # for another number of the same app
        user_ids = {
            str(c["wa_id"]): str(c["user_id"])
            for c in _dicts(value, "contacts")
            if isinstance(c.get("wa_id"), str) and isinstance(c.get("user_id"), str)
        }
        for raw in _dicts(value, "messages"):
            message = _message(raw, user_ids)
            if message is not None:
                messages.setdefault(message.message_id, message)
        for raw in _dicts(value, "statuses"):
            status = _status(raw)
            if status is not None:
                statuses.setdefault((status.message_id, status.state), status)
        errors += [_code(error) for error in _dicts(value, "errors")]
    return Notification(tuple(messages.values()), tuple(statuses.values()), tuple(errors))


def _message(message: dict[str, Any], user_ids: dict[str, str]) -> IncomingMessage | None:
    chat_id = _text(message.get("from")) or _text(message.get("from_user_id"))
    wamid = _text(message.get("id"))
    if not chat_id or not wamid or len(chat_id) > MAX_CHAT_ID or len(wamid) > MAX_MESSAGE_ID:
        return None
    kind = _text(message.get("type"))
    text, is_button = _what_was_said(kind, message)
    return IncomingMessage(
        chat_id=chat_id,
        message_id=wamid,
        kind=kind,
        text=text,
        is_button=is_button,
        at=_time(message.get("timestamp")),
        user_id=user_ids.get(chat_id) or _text(message.get("from_user_id")),
    )


def _status(status: dict[str, Any]) -> StatusUpdate | None:
    state = _text(status.get("status"))
    recipient = _text(status.get("recipient_id")) or _text(status.get("recipient_user_id"))
    wamid = _text(status.get("id"))
    if not state or not recipient or not wamid:
        return None
    codes = tuple(_code(error) for error in _dicts(status, "errors"))
    return StatusUpdate(wamid, state, recipient, _text(status.get("biz_opaque_callback_data")), codes)


def _what_was_said(kind: str, message: dict[str, Any]) -> tuple[str, bool]:
    """The text the core reads, and whether it came from one of our buttons (its id is the command)."""
    if kind == "text":
        return _text(_dict(message, "text").get("body")), False
    if kind == "interactive":
        interactive = _dict(message, "interactive")
        for reply_kind in ("button_reply", "list_reply"):
            chosen = _dict(interactive, reply_kind)
            if chosen:
                return _text(chosen.get("id")) or _text(chosen.get("title")), True
        return "", False
    if kind == "button":
        # A template's quick-reply button: its payload is what the city set in Meta's manager.
        button = _dict(message, "button")
        return _text(button.get("payload")) or _text(button.get("text")), False
    if kind in CAPTIONED:
        return _text(_dict(message, kind).get("caption")), False
    return "", False


def _values(payload: Any) -> list[dict[str, Any]]:
    values = []
    for entry in _dicts(payload, "entry"):
        for change in _dicts(entry, "changes"):
            value = change.get("value")
            if change.get("field") == "messages" and isinstance(value, dict):
                values.append(value)
    return values


def _dicts(container: Any, key: str) -> list[dict[str, Any]]:
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _dict(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _code(error: dict[str, Any]) -> int | None:
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
