"""The values that cross the boundary between messenger adapters and the conversation core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from city.values import Channel, Resident


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person did in a messenger: typed text or a pressed button."""

    channel: Channel
    chat_id: str
    sender_id: str
    text: str
    message_id: str
    at: datetime
    is_button: bool = False
    # The messenger's idea of the person's language, used until they choose one themselves.
    language_hint: str | None = None
    private_chat: bool = True


@dataclass(frozen=True, slots=True)
class Button:
    """A button whose payload is the typed command it stands for, so every button has a typed twin."""

    label: str
    command: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Plain text (adapters escape it for their markup), with optional rows of buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: Attachment | None = None
    # Replace the message whose button was pressed instead of sending a new one (a menu toggling in place).
    replace: bool = False
    # Another chat than the one that wrote, e.g. approvers notified of a draft; None answers the writer.
    to: Resident | None = None
