"""The author's live progress: on Telegram one message per broadcast, edited in place at most every 3 s;
on WhatsApp, which cannot edit, a message when sending starts, at 25, 50 and 75 %, and a summary.

Any service process may report; a short lease in Redis makes sure only one does at a time. The message
id and the last text live in Redis too, so a restarted process carries on editing the same message.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import cast

from bot.telegram.api import TelegramAPI
from broadcasts.limiter import Lane
from broadcasts.model import TERMINAL
from broadcasts.outcome import SendError, SendProblem
from broadcasts.progress import Progress
from broadcasts.reply_pacer import ReplyPacer
from broadcasts.store import BroadcastStore
from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.values import Channel, Resident
from handlers.texts import Texts
from handlers.values import Reply
from handlers.words import decimal, duration, messenger_name, number, state_word

log = logging.getLogger(__name__)

# Edited this often (the "every 3 s when the budget allows"): the staff lane of the limiter gets
# each edit a slot within a fraction of a second even while an alert fills the limit, so the author's
# chat (1/s) and the lane allow it; more often helps nobody.
EDIT_EVERY_S = 3.0
# New broadcasts are looked for this often: a progress message appears within this (plus the slot's
# wait) of the release.
LOOK_EVERY_S = 1.0
LEASE_MS = 10_000
BAR = 10
# WhatsApp milestones: the quarters reached (0 = started); the summary follows at the end.
QUARTERS = 4
RETRYABLE = (SendProblem.RATE_LIMITED, SendProblem.UNAVAILABLE)


class ProgressReporter:
    def __init__(
        self,
        *,
        redis: RedisClient,
        keys: Keys,
        store: BroadcastStore,
        telegram: tuple[TelegramAPI, ReplyPacer] | None,
        notify: Callable[[list[Reply]], Awaitable[None]],
        texts: Texts,
        city: Callable[[], City],
        limits: Mapping[Channel, float],
        worker: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._store = store
        # The Telegram client and the pacer its edits wait on; None when Telegram is not configured.
        self._telegram = telegram
        self._notify = notify
        self._texts = texts
        self._city = city
        self._limits = limits
        self._worker = worker
        self._clock = clock
        self._sleep = sleep

    async def run(self, stopping: asyncio.Event) -> None:
        """Report until `stopping` is set, each time as soon as the next edit is due (at most a second)."""
        while not stopping.is_set():
            try:
                wait = await self.tick()
            except Exception as exc:  # a Redis hiccup must not end the reports
                log.error("progress report failed: %s", type(exc).__name__)
                wait = LOOK_EVERY_S
            await _until_either(self._sleep(wait), stopping)

    async def tick(self) -> float:
        """Update the progress message of every broadcast that is sending or finished since last time, side
        by side (one author's chat pace holds up no other); returns the seconds until the next is due."""
        now = self._clock().timestamp()
        dues = await asyncio.gather(*(self._safely(b) for b in await self._reported()))
        return max(0.001, min([LOOK_EVERY_S, *(due - now for due in dues if due is not None)]))

    async def _safely(self, broadcast_id: str) -> float | None:
        try:
            return await self._report(broadcast_id)
        except SendError as error:
            log.info("progress message not updated: %s", error.problem.value)
            return None

    async def _reported(self) -> list[str]:
        # Most urgent first (an alert's author hears first); finished ones stay reported until their
        # summary is shown. Ids are not all numbers: a digest's or a repeat's names its day.
        sending = await self._store.active.everywhere()
        finished = {str(m) for m in await self._redis.smembers(self._keys.reports())} - set(sending)
        return sending + sorted(finished)

    async def _report(self, broadcast_id: str) -> float | None:
        """Report one broadcast; the epoch second its next edit is due, or None to look on the next beat."""
        lease = self._keys.broadcast_reporter(broadcast_id)
        holder = await self._redis.set(lease, self._worker, px=LEASE_MS, nx=True)
        if not holder and await self._redis.get(lease) != self._worker:
            return None
        await self._redis.pexpire(lease, LEASE_MS)
        broadcast = await self._store.get(broadcast_id)
        author = self._city().staff_member(broadcast.author) if broadcast else None
        if author is None:
            await self._redis.srem(self._keys.reports(), broadcast_id)
            return None
        if author.telegram_id is not None and self._telegram is not None:
            chat = str(author.telegram_id)
            return await self._edit_in_place(broadcast_id, chat, telegram=self._telegram)
        if author.whatsapp is not None:
            progress = await self._store.progress(broadcast_id)
            await self._milestones(broadcast_id, author.whatsapp, progress, self._clock())
        else:
            await self._redis.srem(self._keys.reports(), broadcast_id)
        return None

    async def _edit_in_place(
        self, broadcast_id: str, chat: str, *, telegram: tuple[TelegramAPI, ReplyPacer]
    ) -> float | None:
        api, pacer = telegram
        report_key = self._keys.broadcast_report(broadcast_id)
        report = cast(dict[str, str], await self._redis.hgetall(report_key))
        now = self._clock().timestamp()
        # After a refusal the next try asks a horizon early for the first slot from the time the platform
        # named, so that it goes out then and not behind what an alert reserved meanwhile. That may cost
        # the alert the slots in between, once; regular updates ask when due, and cost nothing.
        retry = float(report.get("retry", 0))
        if now < retry - pacer.horizon:
            return retry - pacer.horizon
        progress = await self._store.progress(broadcast_id)
        finished = progress.state in TERMINAL
        shown = "message" in report
        if not shown and finished:
            return None  # nothing was shown while it was sending; nothing to sum up
        due = float(report.get("at", 0)) + EDIT_EVERY_S
        if shown and not finished and now < due:
            return due
        if shown and not finished and self._bar(progress, self._clock()) == report.get("text"):
            return now + EDIT_EVERY_S  # nothing new to show (paused): no slot spent
        # The staff lane: a slot within a fraction of a second even while an alert fills the limit.
        await pacer.wait_turn(chat, group=False, lane=Lane.STAFF, not_before=retry if retry > now else None)
        at = self._clock()
        text = self._summary(progress, at) if finished else self._bar(progress, at)
        try:
            if not shown:
                message_id = await api.send_text(chat, text)
                await self._redis.sadd(self._keys.reports(), broadcast_id)
                await self._redis.hset(report_key, mapping={"message": message_id})
            elif text != report.get("text"):
                await _edit(api, chat, int(report["message"]), text)
        except SendError as error:
            if error.problem not in RETRYABLE:
                raise
            # Only this report waits, and only as long as asked; the next beat tries again.
            retry = at.timestamp() + (error.retry_after or LOOK_EVERY_S)
            await self._redis.hset(report_key, "retry", retry)
            log.info("progress message not updated: %s", error.problem.value)
            return retry - pacer.horizon
        await self._redis.hset(report_key, mapping={"text": text, "at": at.timestamp(), "retry": 0})
        if finished:
            await self._finish(broadcast_id)
            return None
        return at.timestamp() + EDIT_EVERY_S

    async def _milestones(self, broadcast_id: str, number: str, progress: Progress, now: datetime) -> None:
        report_key = self._keys.broadcast_report(broadcast_id)
        shown = await self._redis.hget(report_key, "milestone")
        to = Resident(Channel.WHATSAPP, number)
        if progress.state in TERMINAL:
            if shown is not None:
                await self._notify([Reply(self._summary(progress, now), to=to)])
            await self._finish(broadcast_id)
            return
        reached = min(QUARTERS - 1, progress.settled * QUARTERS // max(progress.total, 1))
        if shown is not None and int(shown) >= reached:
            return
        # Recorded first: a failed send loses one milestone rather than repeating it every second.
        await self._redis.hset(report_key, "milestone", reached)
        await self._redis.sadd(self._keys.reports(), broadcast_id)
        await self._notify([Reply(self._bar(progress, now), to=to)])

    async def _finish(self, broadcast_id: str) -> None:
        await self._redis.srem(self._keys.reports(), broadcast_id)
        await self._redis.delete(
            self._keys.broadcast_report(broadcast_id), self._keys.broadcast_reporter(broadcast_id)
        )

    def _bar(self, progress: Progress, now: datetime) -> str:
        return progress_text(self._texts, progress, now, self._limits)

    def _summary(self, progress: Progress, now: datetime) -> str:
        return summary_text(self._texts, progress, now)


async def _edit(api: TelegramAPI, chat: str, message_id: int, text: str) -> None:
    try:
        await api.edit_text(chat, message_id, text)
    except SendError as error:
        if error.problem is not SendProblem.UNCHANGED:
            raise


async def _until_either(sleep: Awaitable[None], stopping: asyncio.Event) -> None:
    """Wait for `sleep` (injected, so tests run in virtual time) unless `stopping` comes first."""
    sleeping = asyncio.ensure_future(sleep)
    stopped = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({sleeping, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeping, stopped):
        task.cancel()


def progress_text(texts: Texts, progress: Progress, now: datetime, limits: Mapping[Channel, float]) -> str:
    """The live progress message while a broadcast sends (Telegram, WhatsApp milestones and the sandbox)."""

    def t(key: str, **values: object) -> str:
        return texts("de", key, **values)

    total = max(progress.total, 1)
    share = progress.settled / total
    filled = math.floor(share * BAR)
    channels = [
        t(
            "staff_progress_channel",
            channel=messenger_name(channel),
            settled=number(counts.settled),
            total=number(counts.total),
            failed=number(counts.failed),
        )
        for channel, counts in progress.channels.items()
    ]
    return t(
        "staff_progress",
        id=progress.broadcast_id,
        state=state_word(texts, "de", progress.state),
        bar="▰" * filled + "▱" * (BAR - filled),
        percent=math.floor(share * 100),
        channels="\n".join(channels),
        rate=decimal(progress.rate(now)),
        eta=duration(progress.eta_seconds(limits)),
    )


def summary_text(texts: Texts, progress: Progress, now: datetime) -> str:
    def t(key: str, **values: object) -> str:
        return texts("de", key, **values)

    started = progress.started_at or now
    ended = progress.finished_at or now
    return t(
        "staff_progress_done",
        id=progress.broadcast_id,
        state=state_word(texts, "de", progress.state),
        sent=number(progress.sent),
        total=number(progress.total),
        failed=number(sum(c.failed for c in progress.channels.values())),
        blocked=number(sum(c.blocked for c in progress.channels.values())),
        retired=number(sum(c.retired for c in progress.channels.values())),
        duration=duration((ended - started).total_seconds()),
    )
