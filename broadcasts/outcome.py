"""What a messenger answered to one send, in words every channel shares."""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    RATE_LIMITED = "rate_limited"  # wait retry_after, then try again
    UNAVAILABLE = "unavailable"  # 5xx or timeout: retry with backoff
    BLOCKED = "blocked"  # the person blocked the bot or deleted their account: deactivate
    MIGRATED = "migrated"  # a group became a supergroup: continue under migrate_to
    CHAT_NOT_FOUND = "chat_not_found"  # twice in 24 h retires the subscriber
    UNCHANGED = "unchanged"  # an edit that would not change the message; harmless
    REJECTED = "rejected"  # any other refusal: record it, never retry


class SendError(Exception):
    """A send that did not go through. `detail` is the platform's error text, never the message."""

    def __init__(
        self,
        problem: Problem,
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
