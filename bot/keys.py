"""Every Redis key stadtfunk uses is spelled here and nowhere else.

Keys carry a `{hash tag}` per resident, audience or broadcast, so that a Redis Cluster keeps each
group of keys that one command or transaction touches in one slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from handlers.values import Channel, Resident

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def pattern(self) -> str:
        """Everything stadtfunk owns, for scans in tests and tooling."""
        return f"{self.prefix}:*"

    def schema(self) -> str:
        return f"{self.prefix}:meta:schema"

    def resident(self, resident: Resident) -> str:
        return f"{self.prefix}:res:{{{resident.ref}}}"

    def resident_topics(self, resident: Resident) -> str:
        return f"{self.prefix}:res:{{{resident.ref}}}:topics"

    def resident_pending(self, resident: Resident) -> str:
        """A short-lived mark that a destructive confirmation (erase, unsubscribe all) is awaited."""
        return f"{self.prefix}:res:{{{resident.ref}}}:pending"

    def resident_misses(self, resident: Resident) -> str:
        """When sends last answered "chat not found"; two within 24 h retire the resident."""
        return f"{self.prefix}:res:{{{resident.ref}}}:misses"

    def audience(self, topic_id: str, channel: Channel) -> str:
        return f"{self.prefix}:aud:{{{topic_id}:{channel.value}}}"

    def daily_stats(self, day: date) -> str:
        return f"{self.prefix}:stats:{day.isoformat()}"

    def limiter(self, channel: Channel, account: str | int) -> str:
        """The shared send budget of one bot token or WhatsApp number, used by every process.

        The limiter keeps each recipient's own pacing under it, at `<this key>:r:<keyed hash>`, so that
        one script call touches a single Cluster slot; those keys hold only a time and expire when idle.
        """
        return f"{self.prefix}:lim:{{{channel.value}:{account}}}"
