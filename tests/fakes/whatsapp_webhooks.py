"""Webhook notifications as Meta sends them, for tests: the shapes of
https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components (messages, statuses, errors),
signed like Meta signs them (X-Hub-Signature-256: sha256=HMAC-SHA256(app secret, raw body))."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

JSON = dict[str, Any]
WABA_ID = "102290129340398"
DISPLAY_NUMBER = "15550783881"
_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgLNDkxNTEyMzQ1Njc4FQIAEhgUM0FCRTEyMzQ1Njc4OTAxMjM0NTY{next(_ids):06d}="


def notification(phone_number_id: str, **value: Any) -> JSON:
    """One change of field "messages" with `contacts`, `messages`, `statuses` or `errors`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_NUMBER,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def contact(wa_id: str, name: str = "Erika Mustermann", user_id: str | None = None) -> JSON:
    found: JSON = {"profile": {"name": name}, "wa_id": wa_id}
    if user_id is not None:
        found["user_id"] = user_id
    return found


def message(
    wa_id: str,
    kind: str,
    content: Any,
    *,
    at: float,
    message_id: str | None = None,
    user_id: str | None = None,
) -> JSON:
    found: JSON = {"from": wa_id, "id": message_id or wamid(), "timestamp": str(int(at)), "type": kind}
    if content is not None:
        found[kind] = content
    if user_id is not None:
        found["from_user_id"] = user_id
    return found


def text(wa_id: str, body: str, *, at: float, message_id: str | None = None) -> JSON:
    return message(wa_id, "text", {"body": body}, at=at, message_id=message_id)


def button_reply(wa_id: str, button_id: str, title: str, *, at: float) -> JSON:
    content = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    found = message(wa_id, "interactive", content, at=at)
    found["context"] = {"from": DISPLAY_NUMBER, "id": wamid()}
    return found


def list_reply(wa_id: str, row_id: str, title: str, *, at: float) -> JSON:
    content = {"type": "list_reply", "list_reply": {"id": row_id, "title": title, "description": ""}}
    return message(wa_id, "interactive", content, at=at)


def quick_reply(wa_id: str, payload: str, label: str, *, at: float) -> JSON:
    """A template's quick-reply button."""
    return message(wa_id, "button", {"payload": payload, "text": label}, at=at)


def status(
    message_id: str,
    state: str,
    recipient: str,
    *,
    at: float,
    tag: str | None = None,
    errors: list[JSON] | None = None,
) -> JSON:
    found: JSON = {"id": message_id, "status": state, "timestamp": str(int(at)), "recipient_id": recipient}
    if state in ("sent", "delivered"):
        found["conversation"] = {"id": "f5fdae3920125a39a1e6a23e5f877c16", "origin": {"type": "utility"}}
        found["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility",
            "type": "regular",
        }
    if tag is not None:
        found["biz_opaque_callback_data"] = tag
    if errors is not None:
        found["errors"] = errors
    return found


def error(code: int, title: str = "Message undeliverable") -> JSON:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def sign(raw: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
