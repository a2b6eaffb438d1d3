"""A broadcast's progress as its author, the CLI and /metrics read it: per channel, and in all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from city.values import Channel

from broadcasts.model import State


@dataclass(frozen=True, slots=True)
class ChannelProgress:
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retired: int = 0
    maybe_duplicate: int = 0
    suppressed: int = 0
    delivered: int = 0
    read: int = 0
    undelivered: int = 0

    @property
    def settled(self) -> int:
        return self.sent + self.failed + self.blocked + self.retired + self.suppressed


@dataclass(frozen=True, slots=True)
class Progress:
    broadcast_id: str
    state: State
    planned: bool
    channels: dict[Channel, ChannelProgress] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(c.total for c in self.channels.values())

    @property
    def settled(self) -> int:
        return sum(c.settled for c in self.channels.values())

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    def rate(self, now: datetime) -> float:
        """Deliveries per second so far."""
        end = self.finished_at or now
        if self.started_at is None or end <= self.started_at:
            return 0.0
        return self.settled / (end - self.started_at).total_seconds()

    def eta_seconds(self, limits: Mapping[Channel, float]) -> float:
        """Time left at each channel's platform limit; channels send side by side."""
        left = [
            (c.total - c.settled) / limits[channel]
            for channel, c in self.channels.items()
            if channel in limits and limits[channel] > 0
        ]
        return max(left, default=0.0)
