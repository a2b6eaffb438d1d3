"""Answers to people take their lane of the same shared limiter as broadcasts, and never borrow.

Staff (and the desk's notices, and the author's live progress) ask in the staff lane, residents in the
reply lane (broadcasts/limiter.py says how lanes share the budget). A grant reserves the next free slot
of the one schedule, at most the limiter's horizon ahead, and the answer goes out at that time: so a
strict sliding window at the platform never sees more than the limit, with broadcasts running or not.

In one process, one ask per lane is on its way to Redis at a time (FIFO): a thousand waiting answers
do not each poll the limiter, and staff never queue behind residents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from city.values import Channel

from broadcasts.channel import Pacing
from broadcasts.limiter import LATE_S, SHIFT_AFTER_S, Lane, Limiter, Rate
from broadcasts.outcome import SendError, SendProblem

# A reply refused or failed this often in a row is given up: the platform keeps saying no.
MAX_TRIES = 3


def nobody(_: str) -> bool:
    return False


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
        staff: Callable[[str], bool] = nobody,
    ) -> None:
        self._channel = channel
        self._limiter = limiter
        self._pacing = pacing
        self._hash = hasher
        self._clock = clock
        self._sleep = sleep
        # Whether a chat is a staff member's: their answers take the staff lane.
        self._staff = staff
        self._asking = {Lane.STAFF: asyncio.Lock(), Lane.REPLY: asyncio.Lock()}

    def lane_of(self, chat_id: str) -> Lane:
        return Lane.STAFF if self._staff(chat_id) else Lane.REPLY

    @property
    def horizon(self) -> float:
        """How long before a known due time `wait_turn(not_before=...)` is best called."""
        return self._limiter.horizon

    async def wait_turn(
        self, chat_id: str, *, group: bool, lane: Lane | None = None, not_before: float | None = None
    ) -> None:
        """Return at the time this chat may be sent one message (its reserved slot), not before
        `not_before` (epoch seconds) if given."""
        lane = self.lane_of(chat_id) if lane is None else lane
        rate = self._pacing.group_chat if group else self._pacing.private_chat
        recipient = (self._hash(f"{self._channel.value}:{chat_id}"), rate)
        while True:
            at = await self._reserve(recipient, lane, not_before)
            if (ahead := at - self._clock().timestamp()) > 0:
                await self._sleep(ahead)
            late = self._clock().timestamp() - at
            if late <= LATE_S:
                if late > SHIFT_AFTER_S:
                    await self._limiter.push(self._clock().timestamp(), late)
                return
            # Woken too late for the slot (the machine stalled): sending now could bunch up with
            # sends on time elsewhere, so ask for a new slot.

    async def _reserve(self, recipient: tuple[str, Rate], lane: Lane, not_before: float | None) -> float:
        """The epoch second of a slot reserved for `recipient`; waits (in line) while none is free."""
        while True:
            async with self._asking[Lane.STAFF if lane is Lane.STAFF else Lane.REPLY]:
                while True:
                    now = self._clock().timestamp()
                    grant = await self._limiter.acquire(now, [recipient], lane=lane, not_before=not_before)
                    if grant.granted[0]:
                        return now + grant.delays[0]
                    if grant.paced[0]:
                        break  # this chat's own pace: wait out of line, others go first
                    await self._sleep(max(grant.wait, 0.001))
            await self._sleep(max(grant.wait, 0.001))

    async def send(
        self, chat_id: str, send: Callable[[], Awaitable[object]], *, group: bool, lane: Lane | None = None
    ) -> None:
        """One answer in its turn. After a rate limit (waiting what the platform asks) or a 5xx it waits
        for a new turn and tries again, at most MAX_TRIES times in all."""
        for attempt in range(1, MAX_TRIES + 1):
            await self.wait_turn(chat_id, group=group, lane=lane)
            try:
                await send()
                return
            except SendError as error:
                retryable = error.problem in (SendProblem.RATE_LIMITED, SendProblem.UNAVAILABLE)
                if not retryable or attempt == MAX_TRIES:
                    raise
                await self._sleep(error.retry_after or 1.0)
