"""Conversational replies take the highest-priority lane of the same shared limiter as broadcasts.

A reply may borrow up to REPLY_LANE_S of future budget, so `/hilfe` never waits behind a 100k
broadcast; bulk senders wait that much longer afterwards, and the average rate is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from city.values import Channel

from broadcasts.channel import Pacing
from broadcasts.limiter import Limiter
from broadcasts.outcome import SendError, SendProblem

REPLY_LANE_S = 1.0


class ReplyPacer:
    def __init__(
        self,
        *,
        channel: Channel,
        limiter: Limiter,
        pacing: Pacing,
        hasher: Callable[[str], str],
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        lane_s: float = REPLY_LANE_S,
    ) -> None:
        self._channel = channel
        self._limiter = limiter
        self._pacing = pacing
        self._hash = hasher
        self._clock = clock
        self._sleep = sleep
        self._lane_s = lane_s

    async def wait_turn(self, chat_id: str, *, group: bool) -> None:
        """Return once this chat may be sent one message."""
        rate = self._pacing.group_chat if group else self._pacing.private_chat
        recipient = (self._hash(f"{self._channel.value}:{chat_id}"), rate)
        while wait := await self._limiter.acquire_one(
            self._clock().timestamp(), recipient, lane_tolerance=self._lane_s
        ):
            await self._sleep(wait)

    async def send(self, chat_id: str, send: Callable[[], Awaitable[object]], *, group: bool) -> None:
        """One answer in its turn; one retry after a rate limit (waiting what the platform asks) or a 5xx."""
        await self.wait_turn(chat_id, group=group)
        try:
            await send()
        except SendError as error:
            if error.problem not in (SendProblem.RATE_LIMITED, SendProblem.UNAVAILABLE):
                raise
            await self._sleep(error.retry_after or 1.0)
            await send()
