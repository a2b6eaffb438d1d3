"""What a messenger answered to one send, in words every channel shares."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from city.values import Channel


class SendProblem(StrEnum):
    RATE_LIMITED = "rate_limited"  # wait retry_after, then try again
    UNAVAILABLE = "unavailable"  # 5xx or timeout: retry with backoff
    BLOCKED = "blocked"  # the person blocked the bot or deleted their account: deactivate
    MIGRATED = "migrated"  # a group became a supergroup: continue under migrate_to
    CHAT_NOT_FOUND = "chat_not_found"  # twice in 24 h retires the subscriber
    UNCHANGED = "unchanged"  # an edit that would not change the message; harmless
    REJECTED = "rejected"  # any other refusal: record it, never retry
    SUPPRESSED = "suppressed"  # the platform chose not to deliver (WhatsApp 131049/131050): no retry
    SPAM_LIMITED = "spam_limited"  # the platform throttles the sender as spam (131048): pause the broadcast


class SendError(Exception):
    """A send that did not go through. `detail` is the platform's error text, never the message."""

    def __init__(
        self,
        problem: SendProblem,
        detail: str,
        *,
        retry_after: float | None = None,
        migrate_to: str | None = None,
    ) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail
        self.retry_after = retry_after
        self.migrate_to = migrate_to


class SubscriberCare(Protocol):
    """What the engine asks of resident storage when a platform refuses a delivery."""

    async def deactivate(self, channel: Channel, chat_id: str, at: datetime) -> None:
        """The resident blocked the bot or deleted their account."""
        ...

    async def migrate(self, channel: Channel, chat_id: str, new_chat_id: str) -> None:
        """A group became a supergroup under a new id."""
        ...

    async def record_missing(self, channel: Channel, chat_id: str, at: datetime) -> bool:
        """ "Chat not found"; True when it is the second time within 24 h and the subscriber was retired."""
        ...


# Retries of transient failures (5xx, timeouts): exponential, jittered, capped, and finally given up.
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
MAX_ATTEMPTS = 8


def backoff(attempt: int, jitter: float) -> float:
    """Seconds before retry number `attempt` (1-based); `jitter` in [0, 1) spreads simultaneous retries."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1)) * (0.5 + jitter / 2))
