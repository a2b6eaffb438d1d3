"""The values that cross the boundary between messenger adapters and the conversation core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Channel(StrEnum):
    TELEGRAM = "tg"
    WHATSAPP = "wa"
    SANDBOX = "sb"


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
class Resident:
    """Who a resident is to stadtfunk: a chat on one messenger."""

    channel: Channel
    chat_id: str

    @property
    def ref(self) -> str:
        return f"{self.channel.value}:{self.chat_id}"


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


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    """Everything stored about a resident who agreed to the privacy notice."""

    resident: Resident
    language: str
    consent_at: datetime
    consent_version: str
    topics: frozenset[str] = field(default_factory=frozenset)
    inactive_since: datetime | None = None
    # One digest a day instead of every item at once; since when (items before were sent at once).
    daily_since: datetime | None = None

    @property
    def daily(self) -> bool:
        return self.daily_since is not None


# The core asks for the time instead of reading it, so that tests decide what "now" is.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
