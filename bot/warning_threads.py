"""Threads of official warnings on the delivery foundation: an update or all-clear reaches exactly the
recipients of the warning's first broadcast, as a reply (Telegram) or quote (WhatsApp) to it; the
message ids are kept while the warning is active, plus one day."""

from __future__ import annotations

from datetime import datetime

from broadcasts.model import Broadcast


def to_recipients_of(broadcast: Broadcast, first: str) -> Broadcast:
    """The version's broadcast, bound to the recipients of `first` and replying to their message."""
    return broadcast


class KeptIds:
    """The message ids of a thread's broadcasts, kept until a moment."""

    async def __call__(self, broadcast_ids: tuple[str, ...], until: datetime, now: datetime) -> None:
        return None
