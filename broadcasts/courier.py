"""One batch on its way: each send, what the platform's answer comes to, and the batch settled.

The sender loop (broadcasts/sender.py) decides what goes when; the courier sends it, decides each
outcome in one `match` over the closed set of problems (broadcasts/outcome.py), and settles the batch in
one round trip: sent, retried later, the resident gone, or failed. New platform errors slot in here
without touching the loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from city.connection import REDIS_ERRORS

from broadcasts.channel import ChannelClient, Message
from broadcasts.model import Broadcast
from broadcasts.outcome import MAX_ATTEMPTS, SendError, SendProblem, SubscriberCare, backoff
from broadcasts.queue import EDIT, NOTE, QUOTE, Delivery, DeliveryQueue, Settlement
from broadcasts.retries import Retries
from broadcasts.spam_limit import SpamLimit
from broadcasts.store import BroadcastStore

log = logging.getLogger(__name__)

# A delivery refused because the platform throttles the sender as spam waits at least this long; the
# broadcast is paused meanwhile, and goes on when its author resumes it.
SPAM_RETRY_S = 60.0
# The daily figures are written at most this often while sending (and whenever a sender goes idle, a
# broadcast finishes, or the sender stops): a kill loses at most this much of them.
DAILY_FLUSH_S = 1.0


class Courier:
    def __init__(
        self,
        *,
        queue: DeliveryQueue,
        client: ChannelClient,
        store: BroadcastStore,
        care: SubscriberCare,
        compose: Callable[[Broadcast, str], Message],
        clock: Callable[[], datetime],
        retries: Retries,
        spam: SpamLimit,
        concurrency: int,
        tz: tzinfo = UTC,
    ) -> None:
        self.queue = queue
        self._client = client
        self._store = store
        self._care = care
        self._compose = compose
        self._clock = clock
        self._retries = retries
        self._tz = tz  # the city's: daily figures count the city's days
        self._spam = spam
        self._slots = asyncio.Semaphore(concurrency)
        # Entry ids marked and on their way in this process: still pending in Redis, so re-reading the
        # pending list (after a failure) must not take them up a second time.
        self._on_the_wire: set[str] = set()
        self._messages: dict[tuple[str, str], Message] = {}
        self._random = random.Random()  # noqa: S311 (jitter, not secrecy)
        self._daily_flushed = 0.0  # the clock's epoch seconds at the last flush of the daily figures

    @property
    def channel(self) -> str:
        return self.queue.channel.value

    def on_the_wire(self) -> frozenset[str]:
        """The entry ids on their way now: a copy, for batches settle while the caller reads Redis."""
        return frozenset(self._on_the_wire)

    def board(self, deliveries: Sequence[Delivery]) -> None:
        """These are on their way from now on, before their task runs: no step in between takes them up
        again from Redis."""
        self._on_the_wire.update(d.entry_id for d in deliveries)

    async def take_slots(self, count: int) -> None:
        """One slot per send, all taken before the batch is marked "sending": so after a crash only
        sends that were on their way count as maybe duplicated. Only the sender's step takes slots, one
        batch at a time, so two batches never hold part of the slots each and wait for the rest."""
        for _ in range(count):
            await self._slots.acquire()

    def release_slots(self, count: int) -> None:
        """Slots taken for sends that will not go now after all."""
        for _ in range(count):
            self._slots.release()

    async def send_batch(self, broadcast: Broadcast, deliveries: Sequence[Delivery]) -> bool:
        """Send, decide and settle. False when the batch could not be settled: its deliveries are still
        pending and marked in Redis, so they go again and are counted, once the sender reads them again.
        """
        ids = [d.entry_id for d in deliveries]
        self._on_the_wire.update(ids)  # already there when boarded; the upload path comes straight here
        try:
            # Every send ends before the batch counts as off the wire, even when one outcome fails:
            # otherwise its siblings, still on their way, could be taken up and sent again uncounted.
            results = await asyncio.gather(
                *(self._send_one(broadcast, d) for d in deliveries), return_exceptions=True
            )
            if failed := next((r for r in results if isinstance(r, BaseException)), None):
                raise failed
            outcomes = [r for r in results if not isinstance(r, BaseException)]
            settlements = [s for s in outcomes if isinstance(s, Settlement)]
            retried = [d for d, s in zip(deliveries, outcomes, strict=True) if s is None]
            now = self._clock()
            await self.queue.settle(
                broadcast.id,
                settlements,
                unmark=retried,
                day=now.astimezone(self._tz).date(),
                now=now.timestamp(),
            )
        except REDIS_ERRORS as exc:
            log.error("sender %s could not settle a batch: %s", self.channel, type(exc).__name__)
            return False
        finally:
            self._on_the_wire.difference_update(ids)
        if now.timestamp() - self._daily_flushed >= DAILY_FLUSH_S:
            await self.flush_daily(now.timestamp())
        return True

    async def flush_daily(self, now: float) -> None:
        self._daily_flushed = now
        try:
            await self.queue.flush_daily()
        except REDIS_ERRORS as exc:  # kept, and written with the next flush
            log.error("sender %s could not write the daily figures: %s", self.channel, type(exc).__name__)

    async def message(self, broadcast: Broadcast, language: str) -> Message:
        """The broadcast's message in a language, composed once, with the platform's id of its image
        once uploaded."""
        key = (broadcast.id, language)
        if key not in self._messages:
            self._messages[key] = await self._with_image(broadcast, self._compose(broadcast, language))
        return self._messages[key]

    async def _with_image(self, broadcast: Broadcast, message: Message) -> Message:
        """The platform's id of the picture once uploaded, else its bytes for the upload. A picture
        that is gone (kept before pictures were, or its broadcast's records ended) leaves the text:
        residents still get the news."""
        if not message.image:
            return message
        if ref := await self._store.media(broadcast.id, self.queue.channel):
            return replace(message, image_ref=ref)
        if data := await self._store.images.read(message.image):
            return replace(message, image_data=data)
        log.warning("broadcast %s: its image is gone; sent as text", broadcast.id)
        return replace(message, image=None)

    def forget(self, broadcast_id: str) -> None:
        for key in [k for k in self._messages if k[0] == broadcast_id]:
            del self._messages[key]

    async def _send_one(self, broadcast: Broadcast, delivery: Delivery) -> Settlement | None:
        """Send and decide: a Settlement when done with this delivery, None when it will be retried."""
        if delivery.text is not None:
            language = "en" if delivery.language == "en" else "de"
            message = Message(delivery.text, kind=delivery.kind or "digest", language=language)
        else:
            message = self._messages.get((broadcast.id, delivery.language)) or await self.message(
                broadcast, delivery.language
            )
        if delivery.reply_to:
            message = threaded(message, delivery.reply_to, delivery.step)
        try:
            sent = await self._client.send(delivery.chat_id, message)
        except SendError as error:
            return await self._after_refusal(delivery, error)
        finally:
            self._slots.release()
        if (image_ref := sent.image_ref) and message.image and not message.image_ref:
            for key, cached in list(self._messages.items()):
                if key[0] == broadcast.id:
                    self._messages[key] = replace(cached, image_ref=image_ref, image_data=None)
            await self._store.set_media(broadcast.id, self.queue.channel, image_ref)
        # Kept for corrections: what the broadcast itself sent, not a resident's own text or an edit.
        kept = sent.ref if delivery.text is None and delivery.step != EDIT else None
        return Settlement(delivery, "sent", kept)

    async def _after_refusal(self, delivery: Delivery, error: SendError) -> Settlement | None:
        now = self._clock()
        attempt = delivery.attempt + 1
        retry = replace(delivery, attempt=attempt)
        match error.problem:
            case SendProblem.RATE_LIMITED:
                # Only this chat waits what the platform asks; the rest of the batch carries on.
                self._retries.add(retry, now.timestamp() + (error.retry_after or 1.0))
                return None
            case SendProblem.UNAVAILABLE if attempt < MAX_ATTEMPTS:
                self._retries.add(retry, now.timestamp() + backoff(attempt, self._random.random()))
                return None
            case SendProblem.BLOCKED:
                await self._care.deactivate(self.queue.channel, delivery.chat_id, now)
                return Settlement(delivery, "blocked")
            case SendProblem.MIGRATED if error.migrate_to:
                await self._care.migrate(self.queue.channel, delivery.chat_id, error.migrate_to)
                self._retries.add(replace(retry, chat_id=error.migrate_to), 0.0)
                return None
            case SendProblem.CHAT_NOT_FOUND:
                retired = await self._care.record_missing(self.queue.channel, delivery.chat_id, now)
                return Settlement(delivery, "retired" if retired else "failed")
            case SendProblem.SUPPRESSED:
                return Settlement(delivery, "suppressed")
            case SendProblem.SPAM_LIMITED:
                # The whole broadcast stops, not only this chat: the limit is on our number.
                self._retries.add(retry, now.timestamp() + SPAM_RETRY_S)
                await self._spam.reached(delivery.broadcast_id)
                return None
        log.warning("delivery on %s failed: %s", self.channel, error.problem.value)
        return Settlement(delivery, "failed")


def threaded(message: Message, ref: str, step: str) -> Message:
    """A follow-up's message to one recipient: a reply to what they got. A correction or retraction
    changes that message in place and replies with a short note where the messenger can edit, and quotes
    it with the whole follow-up where it cannot."""
    texts = {EDIT: message.amended, NOTE: message.note, QUOTE: message.quoted}
    if step in texts:
        text = texts[step] or message.text
        if step == EDIT:
            return replace(message, text=text, edit=ref, image=None)
        return replace(message, text=text, reply_to=ref, image=None)
    return replace(message, reply_to=ref)
