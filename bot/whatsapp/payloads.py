"""Pure translations of stadtfunk's values into Cloud API message bodies, within WhatsApp's limits.

Limits: https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages
and .../interactive-list-messages (at most 3 reply buttons with titles of 20 characters; a list of at
most 10 rows, row titles of 24 and descriptions of 72 characters, body text up to 1024 characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from broadcasts.render import split_text
from city.config import WhatsAppTemplate
from handlers.values import Button, Reply

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_LIST_LABEL = 20
MAX_CAPTION = 1024
# A template body holds at most 1024 characters including its fixed text; parameters allow no line
# breaks, tabs or more than four spaces in a row (error 132018).
MAX_TEMPLATE_PARAMETER = 900
LIST_LABEL = "☰ Menü"
_SPACES = re.compile(r"[ \t]{4,}")

Body = dict[str, Any]


def addressed(chat_id: str, content: Body, tag: str | None = None, reply_to: str | None = None) -> Body:
    """The envelope: a phone number (wa_id) goes in `to`, a business-scoped user id in `recipient`;
    `reply_to`, a wamid, quotes that message above this one."""
    body: Body = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body["to" if chat_id.isdecimal() else "recipient"] = chat_id
    body.update(content)
    if tag is not None:
        # Echoed in the statuses webhook, so delivered/read count towards the broadcast.
        body["biz_opaque_callback_data"] = tag
    if reply_to is not None:
        # https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#contextual-replies
        body["context"] = {"message_id": reply_to}
    return body


def text(content: str) -> Body:
    return {"type": "text", "text": {"body": content, "preview_url": True}}


def image(media_id: str, caption: str | None) -> Body:
    media: Body = {"id": media_id}
    if caption:
        media["caption"] = caption
    return {"type": "image", "image": media}


def document(media_id: str, filename: str) -> Body:
    return {"type": "document", "document": {"id": media_id, "filename": filename}}


def template(spec: WhatsAppTemplate, language: str, values: dict[str, str]) -> Body:
    parameters = [{"type": "text", "text": one_line(values.get(name, ""))} for name in spec.parameters]
    content: Body = {"name": spec.name, "language": {"code": spec.language(language)}}
    if parameters:
        content["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": content}


def one_line(value: str) -> str:
    """A template parameter: no line breaks, no runs of spaces, short enough for the body's limit."""
    flat = " · ".join(line.strip() for line in value.replace("\t", " ").splitlines() if line.strip())
    flat = _SPACES.sub("   ", flat) or "-"
    return fit(flat, MAX_TEMPLATE_PARAMETER)


def fit(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def reply_buttons(body: str, buttons: Sequence[Button]) -> Body:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.command, "title": fit(b.label, MAX_BUTTON_TITLE)}}
                    for b in buttons
                ]
            },
        },
    }


def reply_list(body: str, buttons: Sequence[Button]) -> Body:
    rows = []
    for button in buttons:
        row: Body = {"id": button.command, "title": fit(button.label, MAX_ROW_TITLE)}
        if len(button.label) > MAX_ROW_TITLE:
            # The whole label still reaches the person, as the row's description.
            row["description"] = fit(button.label, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": LIST_LABEL, "sections": [{"rows": rows}]},
        },
    }


def reply_bodies(reply: Reply) -> list[Body]:
    """A reply as messages: text parts, and its buttons as reply buttons (≤3) or lists (10 rows each).

    Buttons whose command is too long for an id are left out: every button has a typed twin the
    text names, so nothing becomes unreachable.
    """
    buttons = _usable(b for row in reply.buttons for b in row)
    parts = split_text(reply.text or "…", MAX_TEXT)
    if not buttons:
        return [text(part) for part in parts]
    # The last part carries the buttons, and an interactive body holds at most 1024 characters.
    parts[-1:] = split_text(parts[-1], MAX_INTERACTIVE_BODY)
    last = parts.pop()
    bodies = [text(part) for part in parts]
    if len(buttons) <= MAX_BUTTONS and all(len(b.label) <= MAX_BUTTON_TITLE for b in buttons):
        bodies.append(reply_buttons(last, buttons))
        return bodies
    pages = [buttons[i : i + MAX_ROWS] for i in range(0, len(buttons), MAX_ROWS)]
    for number, page in enumerate(pages):
        body = last if number == 0 else f"({number + 1}/{len(pages)})"
        bodies.append(reply_list(body, page))
    return bodies


def _usable(buttons: Any) -> list[Button]:
    seen: set[str] = set()
    usable = []
    for button in buttons:
        if len(button.command) <= MAX_ROW_ID and button.command not in seen:
            seen.add(button.command)
            usable.append(button)
    return usable
