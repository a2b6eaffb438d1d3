"""What the engine needs from a messenger: one send method. The adapters in bot/ implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from city.values import Channel

from broadcasts.limiter import Rate


@dataclass(frozen=True, slots=True)
class Message:
    """One broadcast as one resident sees it: the text in their language, and an optional image."""

    text: str
    image_path: str | None = None
    # The platform's id of the image once it was uploaded (Telegram file_id, WhatsApp media id).
    image_ref: str | None = None
    kind: str = "news"  # news, alert or digest: WhatsApp picks its template by it
    # The broadcast's id, echoed by platforms that report delivery later (WhatsApp statuses).
    tag: str | None = None
    language: str = "de"  # the language `text` is in: WhatsApp templates come per language


@dataclass(frozen=True, slots=True)
class Pacing:
    """A channel's platform limits, for the shared limiter."""

    overall: Rate
    private_chat: Rate
    group_chat: Rate


class ChannelClient(Protocol):
    channel: Channel
    pacing: Pacing

    async def send(self, chat_id: str, message: Message) -> str | None:
        """Deliver, or raise broadcasts.outcome.SendError. Returns a new image_ref after an upload."""
        ...

    def is_group(self, chat_id: str) -> bool:
        """Groups have their own, slower per-chat limit."""
        ...
