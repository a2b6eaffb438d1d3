"""What the engine needs from a messenger: one send method. The adapters in bot/ implement it.

Threading: a send answers the platform's reference to what it sent (`Sent.ref`), which the courier keeps
per delivery (broadcasts/message_ids.py). A later message to the same chat can then carry it back:
`Message.reply_to` sends it as a reply to that message (Telegram `reply_parameters`, WhatsApp
`context.message_id`), `Message.edit` changes that message in place instead of sending a new one (Telegram
only: editMessageText / editMessageCaption). A reference is opaque outside the channel that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from city.values import Channel

from broadcasts.limiter import Rate


@dataclass(frozen=True, slots=True)
class Message:
    """One broadcast as one resident sees it: the text in their language, and an optional image."""

    text: str
    image: str | None = None  # the picture's name (broadcasts/images.py): the message is a photo
    # The platform's id of the image once it was uploaded (Telegram file_id, WhatsApp media id).
    image_ref: str | None = None
    # The picture's bytes, for the one send that uploads it (while `image_ref` is None).
    image_data: bytes | None = field(default=None, repr=False)
    kind: str = "news"  # news, alert or digest: WhatsApp picks its template by it
    # The broadcast's id, echoed by platforms that report delivery later (WhatsApp statuses).
    tag: str | None = None
    language: str = "de"  # the language `text` is in: WhatsApp templates come per language
    # The platform's reference (Sent.ref) of an earlier message in this chat that this one answers.
    reply_to: str | None = None
    # The reference of an earlier message to change in place to `text` (channels that can edit).
    edit: str | None = None
    # A correction's or retraction's (Broadcast.amends): what the message it amends says from now on where
    # the messenger can edit, the short note that answers it then, and the whole follow-up that quotes it
    # where the messenger cannot edit. `text` is then what goes to someone who had not got it yet.
    amended: str | None = None
    note: str | None = None
    quoted: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """What a platform answered to a send that went through."""

    # The platform's reference of what was sent (Telegram message ids, a WhatsApp wamid), for replies and
    # edits later; None when the platform named none.
    ref: str | None = None
    # The platform's id of the image, when this send uploaded it: every later send reuses it.
    image_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pacing:
    """A channel's platform limits, for the shared limiter."""

    overall: Rate
    private_chat: Rate
    group_chat: Rate


class ChannelClient(Protocol):
    channel: Channel
    pacing: Pacing

    async def send(self, chat_id: str, message: Message) -> Sent:
        """Deliver (or edit, see Message.edit), or raise broadcasts.outcome.SendError."""
        ...

    def is_group(self, chat_id: str) -> bool:
        """Groups have their own, slower per-chat limit."""
        ...
