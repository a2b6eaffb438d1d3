"""A platform's spam limit on our number (WhatsApp's 131048): the broadcast pauses, its author is told once.

Decided here, in the core, and handed out as a Notice value, as Desk.upkeep does: a sender that meets
the limit and the WhatsApp adapter reading a later status both report it here, and the service delivers
the notices it finds on `notices`. Nothing calls back up into the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from city.config import City

from broadcasts.model import InvalidTransition, State
from broadcasts.notice import Notice
from broadcasts.store import BroadcastStore

log = logging.getLogger(__name__)

# The text (handlers/locale) that tells the author why their broadcast stopped and how to go on.
PAUSED_NOTICE = "staff_whatsapp_paused"


class SpamLimit:
    def __init__(self, store: BroadcastStore, city: Callable[[], City]) -> None:
        self._store = store
        self._city = city
        # Unbounded, and it stays small: a broadcast pauses (and its author is told) once per resume.
        self.notices: asyncio.Queue[Notice] = asyncio.Queue()

    async def pause(self, broadcast_id: str) -> Notice | None:
        """Pause the broadcast. Returns the notice for its author only if this call paused it: None when
        it was paused already (another send of the same batch, another process), has ended or does not
        exist, or when its author is no longer in the city file."""
        try:
            # The platform paused it, not a person: its author may let it go on.
            await self._store.transition(
                broadcast_id, State.PAUSED, fields={"paused_by": "", "approver_paused": "0"}
            )
        except (InvalidTransition, KeyError):
            return None
        log.warning("broadcast %s paused: the platform limits our number as spam", broadcast_id)
        broadcast = await self._store.get(broadcast_id)
        author = self._city().staff_member(broadcast.author) if broadcast is not None else None
        if broadcast is None or author is None:
            return None
        return Notice(to=author, key=PAUSED_NOTICE, broadcast=broadcast)

    async def reached(self, broadcast_id: str) -> None:
        """A send of the broadcast met the limit: pause it, and leave its author's notice on `notices`."""
        if (notice := await self.pause(broadcast_id)) is not None:
            self.notices.put_nowait(notice)
