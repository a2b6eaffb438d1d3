"""Residents in Redis: consent, language, subscriptions, and the audience sets broadcasts read.

Nothing is written for a person before they agree to the privacy notice. Writes that touch a
resident's own keys and a topic's audience set are ordered so that a crash between them never
leaves someone in an audience without a record that erasure would find.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, cast

from city.connection import RedisClient
from city.consent import CONSENT_ASKED, Consents, history
from city.keys import Keys
from city.retention import Expiry, RetentionLists
from city.values import Channel, Resident, ResidentRecord

# Keys a SCAN call looks at, and records read per round trip, when walking every resident.
SCAN_COUNT = 1000
HEADCOUNT_PAGE = 500
# "Chat not found" twice within this window retires a subscriber.
MISSING_WINDOW_S = 24 * 3600
# Aggregate counters are kept a little over a year for the 7- and 30-day and yearly comparisons.
STATS_TTL_S = 400 * 24 * 3600


# Identifiers a messenger adds beside the chat id (WhatsApp's business-scoped user id), kept in the record.
IDENTITY_FIELDS = frozenset({"whatsapp_user_id"})


# Erasure also asks each part that keeps something about a resident outside the record to forget it
# (WhatsApp's window marks, the engine's queued deliveries), and tells those that act once everything is
# gone (the append-only file's rewrite); the wiring in bot/ registers them.
Forget = Callable[[Resident], Awaitable[None]]


async def subscriber_counts(
    redis: RedisClient, keys: Keys, pairs: Iterable[tuple[str, Channel]]
) -> dict[tuple[str, Channel], int]:
    """Subscribers per (topic, channel) in both delivery modes, at once and daily digest.

    A resident is in one of the two sets per topic (switching moves them), so the sum counts each once."""
    wanted = list(pairs)
    async with redis.pipeline(transaction=False) as pipe:
        for topic_id, channel in wanted:
            pipe.scard(keys.audience(topic_id, channel))
            pipe.scard(keys.audience_daily(topic_id, channel))
        sizes = [int(size) for size in await pipe.execute()]
    return {pair: sizes[2 * n] + sizes[2 * n + 1] for n, pair in enumerate(wanted)}


@dataclass(frozen=True, slots=True)
class Headcount:
    """People, not subscriptions: the residents of one messenger who agreed to the privacy notice."""

    agreed: int = 0
    inactive: int = 0  # of them, those who blocked the bot or cannot be reached: nothing is sent to them


class Residents:
    def __init__(self, redis: RedisClient, keys: Keys, tz: tzinfo) -> None:
        self._redis = redis
        self._keys = keys
        self._tz = tz
        self.consents = Consents(redis, keys)
        self.retention = RetentionLists(redis, keys)
        self.forgetters: list[Forget] = []
        self.erased: list[Forget] = []

    async def get(self, resident: Resident) -> ResidentRecord | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.resident(resident))
            pipe.smembers(self._keys.resident_topics(resident))
            fields, topics = await pipe.execute()
        if not fields or "consent_at" not in fields:
            return None
        inactive, daily = fields.get("inactive_since"), fields.get("daily_since")
        return ResidentRecord(
            resident=resident,
            language=fields.get("language", "de"),
            consent_at=datetime.fromisoformat(fields["consent_at"]),
            consent_version=fields.get("consent_version", ""),
            topics=frozenset(topics),
            inactive_since=datetime.fromisoformat(inactive) if inactive else None,
            daily_since=datetime.fromisoformat(daily) if daily else None,
            consents=history(fields),
        )

    async def every(self) -> AsyncIterator[Resident]:
        """Every resident with a record, for counts and checks over everyone.

        SCAN walks one server's keys; on a Redis Cluster redis-py runs it on every primary in turn, so
        nobody is missed. As SCAN promises: whoever has a record for the whole walk is found, a record
        written or erased meanwhile may or may not be, and one may come twice when the server resizes its
        tables during the walk.
        """
        pattern = self._keys.resident_records()
        async for key in self._redis.scan_iter(match=pattern, count=SCAN_COUNT, _type="hash"):
            if (resident := self._keys.resident_of(str(key))) is not None:
                yield resident

    async def headcount(self) -> dict[Channel, Headcount]:
        """Per messenger, how many residents agreed and how many of them receive nothing now."""
        counts: dict[Channel, Headcount] = {}
        page: list[Resident] = []
        seen: set[Resident] = set()
        async for resident in self.every():
            if resident in seen:
                continue
            seen.add(resident)
            page.append(resident)
            if len(page) == HEADCOUNT_PAGE:
                await self._count_page(page, counts)
                page = []
        await self._count_page(page, counts)
        return counts

    async def _count_page(self, page: list[Resident], counts: dict[Channel, Headcount]) -> None:
        if not page:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for resident in page:
                pipe.hmget(self._keys.resident(resident), ["consent_at", "inactive_since"])
            answers = await pipe.execute()
        for resident, (consent_at, inactive_since) in zip(page, answers, strict=True):
            if consent_at is None:
                continue
            before = counts.get(resident.channel, Headcount())
            counts[resident.channel] = Headcount(before.agreed + 1, before.inactive + bool(inactive_since))

    async def consent(self, resident: Resident, *, language: str, version: str, at: datetime) -> None:
        """Record consent to a version of the privacy notice, keeping the versions agreed to before."""
        await self.consents.agree(resident, language=language, version=version, at=at)
        if not await self._redis.scard(self._keys.resident_topics(resident)):
            # Agreed, but no topics (yet): the retention period for a record without topics runs.
            await self.retention.without_topics(resident, at)

    async def remember(self, resident: Resident, field: str, value: str) -> None:
        """Keep another identifier of a resident who agreed; nothing is written for anyone else."""
        if field not in IDENTITY_FIELDS:
            raise ValueError(f"not an identity field: {field}")
        key = self._keys.resident(resident)
        if await self._redis.hget(key, "consent_at") is not None:
            await self._redis.hset(key, field, value)

    async def set_language(self, resident: Resident, language: str) -> None:
        await self._redis.hset(self._keys.resident(resident), "language", language)

    async def subscribe(self, record: ResidentRecord, topic_id: str, at: datetime) -> bool:
        """Add a topic; False when the resident already had it."""
        resident = record.resident
        added = await self._redis.sadd(self._keys.resident_topics(resident), topic_id)
        if not added:
            return False
        async with self._redis.pipeline(transaction=False) as pipe:
            if record.inactive_since is None:
                pipe.sadd(self._audience(record, topic_id), resident.chat_id)
            self.retention.subscribed(pipe, resident)
            self._count(pipe, "subscribe", topic_id, resident, at)
            await pipe.execute()
        return True

    async def unsubscribe(self, record: ResidentRecord, topic_ids: Iterable[str], at: datetime) -> list[str]:
        """Remove topics; returns those the resident actually had."""
        resident = record.resident
        removed = sorted(set(topic_ids) & record.topics)
        if not removed:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic_id in removed:
                self._leave(pipe, resident, topic_id)
                self._count(pipe, "unsubscribe", topic_id, resident, at)
            pipe.srem(self._keys.resident_topics(resident), *removed)
            pipe.scard(self._keys.resident_topics(resident))
            left = (await pipe.execute())[-1]
        if not left:
            await self.retention.without_topics(resident, at)
        return removed

    async def mark_inactive(self, resident: Resident, at: datetime) -> None:
        """The messenger refuses delivery (blocked bot): stop sending, keep the choices for a return."""
        record = await self.get(resident)
        if record is None or record.inactive_since is not None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic_id in record.topics:
                self._leave(pipe, resident, topic_id)
            pipe.hset(self._keys.resident(resident), "inactive_since", at.isoformat())
            self.retention.blocked(pipe, resident, at)
            await pipe.execute()

    async def reactivate(self, record: ResidentRecord) -> ResidentRecord:
        """A resident who blocked the bot wrote again: deliver to them again."""
        if record.inactive_since is None:
            return record
        resident = record.resident
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self._keys.resident(resident), "inactive_since")
            self.retention.reactivated(pipe, resident)
            for topic_id in record.topics:
                pipe.sadd(self._audience(record, topic_id), resident.chat_id)
            await pipe.execute()
        return replace(record, inactive_since=None)

    async def set_daily(self, record: ResidentRecord, daily: bool, at: datetime) -> ResidentRecord:
        """Switch between every item at once and one digest a day; the audiences follow atomically."""
        if record.daily == daily:
            return record
        resident = record.resident
        switched = replace(record, daily_since=at if daily else None)
        async with self._redis.pipeline(transaction=False) as pipe:
            if daily:
                pipe.hset(self._keys.resident(resident), "daily_since", at.isoformat())
            else:
                pipe.hdel(self._keys.resident(resident), "daily_since")
            if record.inactive_since is None:
                for topic_id in record.topics:
                    # A raw command: redis-py's cluster pipeline refuses SMOVE by name, as its two sets
                    # could lie in two slots; these share the topic's hash tag (city/keys.py).
                    pipe.execute_command(
                        "SMOVE",
                        self._audience(record, topic_id),
                        self._audience(switched, topic_id),
                        resident.chat_id,
                    )
            await pipe.execute()
        return switched

    async def erase(self, resident: Resident, known_topics: Iterable[str]) -> None:
        """Remove every trace of the resident, including from audiences of topics since removed and,
        through the forgetters, from the delivery queues of broadcasts still sending."""
        stored = cast(set[str], await self._redis.smembers(self._keys.resident_topics(resident)))
        topics = set(known_topics) | stored
        # Out of every audience before the forgetters drop the queued deliveries: a planner running in
        # between would otherwise queue the resident again, after the drop. The record goes last, so
        # that a crash half-way leaves something a repeated erasure finds.
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic_id in topics:
                self._leave(pipe, resident, topic_id)
            await pipe.execute()
        for forget in self.forgetters:
            await forget(resident)
        async with self._redis.pipeline(transaction=False) as pipe:
            self.retention.forget(pipe, resident)
            self.consents.forget(pipe, resident)
            pipe.delete(
                self._keys.resident_topics(resident),
                self._keys.resident_pending(resident),
                self._keys.resident_misses(resident),
                self._keys.resident(resident),
            )
            await pipe.execute()
        for tell in self.erased:
            await tell(resident)

    # --- what the broadcast engine reports (broadcasts.outcome.SubscriberCare)

    async def deactivate(self, channel: Channel, chat_id: str, at: datetime) -> None:
        await self.mark_inactive(Resident(channel, chat_id), at)

    async def migrate(self, channel: Channel, chat_id: str, new_chat_id: str) -> None:
        """A group chat became a supergroup: carry its record and subscriptions over to the new id."""
        old, new = Resident(channel, chat_id), Resident(channel, new_chat_id)
        record = await self.get(old)
        if record is None:
            return
        fields = await self._redis.hgetall(self._keys.resident(old))
        await self.retention.move(old, new)
        await self.consents.move(old, new)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.resident(new), mapping=cast(dict[Any, Any], fields))
            if record.topics:
                pipe.sadd(self._keys.resident_topics(new), *record.topics)
            for topic_id in record.topics:
                if record.inactive_since is None:
                    pipe.sadd(self._audience(replace(record, resident=new), topic_id), new_chat_id)
                self._leave(pipe, old, topic_id)
            pipe.delete(
                self._keys.resident_topics(old), self._keys.resident_misses(old), self._keys.resident(old)
            )
            await pipe.execute()

    async def record_missing(self, channel: Channel, chat_id: str, at: datetime) -> bool:
        """The messenger says the chat does not exist. The second time within 24 h the resident is retired:
        a chat that is gone will not come back, so nothing about it is kept."""
        resident = Resident(channel, chat_id)
        misses = self._keys.resident_misses(resident)
        previous = await self._redis.get(misses)
        if previous is not None and at.timestamp() - float(previous) < MISSING_WINDOW_S:
            await self.erase(resident, ())
            return True
        # The expiry only tidies up; whether a miss counts is decided by `at`, so tests control time.
        await self._redis.set(misses, repr(at.timestamp()), ex=MISSING_WINDOW_S)
        return False

    # --- retention (city file `retention:`), swept by bot/privacy.py

    async def erase_expired(
        self, resident: Resident, expiry: Expiry, before: datetime, known_topics: Iterable[str], at: datetime
    ) -> bool:
        """The same erasure as /loeschen, if the reason still holds (the resident may have subscribed or
        written again meanwhile); counted in the daily figures, without the person. True when erased."""
        record = await self.get(resident)
        since = await self.retention.since(expiry, resident)
        if since is None or since > before.timestamp():
            return False
        holds = record is not None and (
            not record.topics if expiry is Expiry.UNSUBSCRIBED else record.inactive_since is not None
        )
        if record is not None and not holds:
            await self.retention.tidy(expiry, resident)
            return False
        await self.erase(resident, known_topics)  # also what a crash half-way left without a record
        if record is None:
            return False
        key = self._keys.daily_stats(at.astimezone(self._tz).date())
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"erased:{expiry.value}:{resident.channel.value}", 1)
            pipe.expire(key, STATS_TTL_S)
            await pipe.execute()
        return True

    async def index_for_retention(self, at: datetime) -> int:
        """List the residents stored before retention was kept (schema 1): a blocked one from when the
        refusal was recorded, one without topics from `at`, the upgrade. Returns how many were listed."""
        listed = 0
        async for key in self._redis.scan_iter(match=self._keys.resident_pattern(), count=1000):
            name = str(key)
            if not name.endswith("}"):  # the record itself, not its topics or marks
                continue
            resident = Resident.from_ref(name[name.index("{") + 1 : -1])
            record = await self.get(resident)
            if record is None:
                continue
            async with self._redis.pipeline(transaction=False) as pipe:
                if record.inactive_since is not None:
                    self.retention.blocked(pipe, resident, record.inactive_since)
                await pipe.execute()
            if not record.topics:
                await self.retention.without_topics(resident, at)
            listed += record.inactive_since is not None or not record.topics
        return listed

    async def audience_size(self, topic_id: str, channel: Channel) -> int:
        """Who gets each item at once."""
        return int(await self._redis.scard(self._keys.audience(topic_id, channel)))

    async def digest_audience_size(self, topic_id: str, channel: Channel) -> int:
        """Who reads the topic's items in the next daily digest."""
        return int(await self._redis.scard(self._keys.audience_daily(topic_id, channel)))

    def _audience(self, record: ResidentRecord, topic_id: str) -> str:
        """The set that delivers to the resident in their delivery mode."""
        channel = record.resident.channel
        return (self._keys.audience_daily if record.daily else self._keys.audience)(topic_id, channel)

    def _leave(self, pipe: Any, resident: Resident, topic_id: str) -> None:
        """Out of the topic's audience, whichever delivery mode: a crash mid-switch leaves no trace."""
        pipe.srem(self._keys.audience(topic_id, resident.channel), resident.chat_id)
        pipe.srem(self._keys.audience_daily(topic_id, resident.channel), resident.chat_id)

    async def export(self, resident: Resident) -> dict[str, Any] | None:
        record = await self.get(resident)
        if record is None:
            return None
        return {
            "messenger": resident.channel.name.lower(),
            "chat_id": resident.chat_id,
            "language": record.language,
            "consent": {
                "at": record.consent_at.isoformat(),
                "privacy_notice_version": record.consent_version,
                "history": [
                    {"privacy_notice_version": given.version, "at": given.at.isoformat()}
                    for given in record.consents
                ],
            },
            "topics": sorted(record.topics),
            "delivery": "daily digest" if record.daily else "every item at once",
            "daily_digest_since": record.daily_since.isoformat() if record.daily_since else None,
            "inactive_since": record.inactive_since.isoformat() if record.inactive_since else None,
            "asked_to_agree_to_privacy_notice_version": await self._redis.hget(
                self._keys.resident(resident), CONSENT_ASKED
            ),
            **{name: value for name, value in (await self._identities(resident)).items() if value},
        }

    async def _identities(self, resident: Resident) -> dict[str, str]:
        values = await self._redis.hmget(self._keys.resident(resident), sorted(IDENTITY_FIELDS))
        return {
            name: str(value) for name, value in zip(sorted(IDENTITY_FIELDS), values, strict=True) if value
        }

    def _count(self, pipe: Any, event: str, topic_id: str, resident: Resident, at: datetime) -> None:
        key = self._keys.daily_stats(at.astimezone(self._tz).date())
        pipe.hincrby(key, f"{event}:{topic_id}:{resident.channel.value}", 1)
        pipe.expire(key, STATS_TTL_S)
