"""The append-only audit log of staff actions, in a Redis stream: who did what, when, to which broadcast.

Entries hold staff ids and broadcast ids only, never resident data. A city's desk records a few
thousand actions a year, so reading `since` a time walks the stream from its start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from city.connection import RedisClient


class Action(StrEnum):
    DRAFT = "draft"
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    SEND = "send"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RELOAD = "reload"
    BREAK_GLASS = "break_glass"
    REVIEW = "review"
    EXPIRE = "expire"
    MISSED = "missed"  # due while the service was down, longer ago than the grace: held
    RELEASE = "release"  # a held broadcast sent by staff


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    who: str  # a staff id, or "system"
    action: Action
    broadcast_id: str | None = None
    detail: str = ""  # e.g. a rejection reason; staff's words, never residents'

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "who": self.who,
            "action": self.action.value,
            "broadcast": self.broadcast_id,
            "detail": self.detail,
        }


class AuditLog:
    def __init__(self, redis: RedisClient, key: str) -> None:
        self._redis = redis
        self._key = key

    async def record(self, entry: Entry) -> None:
        fields = {"at": entry.at.isoformat(), "who": entry.who, "action": entry.action.value}
        if entry.broadcast_id:
            fields["broadcast"] = entry.broadcast_id
        if entry.detail:
            fields["detail"] = entry.detail
        await self._redis.xadd(self._key, cast(dict[Any, Any], fields))

    async def since(self, start: datetime) -> AsyncIterator[Entry]:
        """Entries recorded at or after `start`, oldest first."""
        cursor = f"{int(start.timestamp() * 1000)}-0"
        while True:
            page = cast(
                list[tuple[str, dict[str, str]]], await self._redis.xrange(self._key, min=cursor, count=500)
            )
            for _, fields in page:
                yield Entry(
                    at=datetime.fromisoformat(fields["at"]).astimezone(UTC),
                    who=fields["who"],
                    action=Action(fields["action"]),
                    broadcast_id=fields.get("broadcast"),
                    detail=fields.get("detail", ""),
                )
            if len(page) < 500:
                return
            cursor = "(" + page[-1][0]
