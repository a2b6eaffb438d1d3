"""The values every layer shares: which messenger, which resident, what is stored about them, and the time."""

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
class Resident:
    """Who a resident is to stadtfunk: a chat on one messenger."""

    channel: Channel
    chat_id: str

    @property
    def ref(self) -> str:
        return f"{self.channel.value}:{self.chat_id}"

    @staticmethod
    def from_ref(ref: str) -> Resident:
        channel, _, chat_id = ref.partition(":")
        return Resident(Channel(channel), chat_id)


@dataclass(frozen=True, slots=True)
class Consent:
    """One version of the privacy notice a resident agreed to, and when they first did."""

    version: str
    at: datetime


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
    # Every version of the privacy notice agreed to, oldest first; the last is consent_version.
    consents: tuple[Consent, ...] = ()

    @property
    def daily(self) -> bool:
        return self.daily_since is not None


# The core asks for the time instead of reading it, so that tests decide what "now" is.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
