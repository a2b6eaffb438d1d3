"""Threads of official warnings on the delivery foundation: an update or all-clear reaches exactly the
recipients of the warning's first broadcast, as a reply (Telegram) or quote (WhatsApp) to it; the
message ids are kept while the warning is active, plus one day."""

from __future__ import annotations

from datetime import datetime

from broadcasts.model import Broadcast
from broadcasts.warning_threads import Thread


def to_recipients_of(broadcast: Broadcast, first: str) -> Broadcast:
    """The version's broadcast, bound to the recipients of `first` and replying to their message."""
    return broadcast


async def keep_a_day(thread: Thread, now: datetime) -> None:
    """The thread ended: its broadcasts' message ids go one day from now."""
