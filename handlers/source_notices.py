"""What the admins hear of a polled source (the warnings API, a press feed): down once, back once."""

from __future__ import annotations

from broadcasts.approval import admins
from broadcasts.sources import Health, HealthChange
from city.config import City
from handlers.staff_common import chats
from handlers.texts import Texts
from handlers.values import Reply

KEYS = {Health.DOWN: "source_down", Health.RECOVERED: "source_recovered"}


def health_replies(city: City, texts: Texts, change: HealthChange) -> list[Reply]:
    """One message to every chat of every admin, in each admin's language."""
    return [
        Reply(
            texts(admin.language, KEYS[change.health], source=change.source_id, error=change.error), to=chat
        )
        for admin in admins(city)
        for chat in chats(admin)
    ]
