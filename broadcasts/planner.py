"""Turns a broadcast's audience into deliveries, streaming: memory stays flat in the audience size.

Subscribers are read with an SSCAN cursor per topic, channel and delivery mode: news goes to those who
want every item at once, alerts to everyone, and a digest to those who chose one a day, each with a
text of their own. Each batch is queued by one script
that also saves the cursor, so planning resumes exactly where a dead process stopped. A set of keyed
hashes of queued recipients gives each resident one message even when they follow several of the
broadcast's topics (SSCAN may also return a member twice); it is deleted once planning is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

from city.config import City
from city.connection import RedisClient
from city.consent import CONSENT_ASKED, note_asked, outdated_consents
from city.keys import Keys
from city.values import Channel, Resident

from broadcasts.digest import DigestRun
from broadcasts.message_ids import MessageIds
from broadcasts.model import Broadcast, Priority
from broadcasts.queue import EDIT, NOTE, QUOTE, open_stream
from broadcasts.queue_scripts import ENTRY

log = logging.getLogger(__name__)

SCAN_BATCH = 1000
# A correction's progress field: it stopped the original on its way, and also goes to the rest of the
# original's audience, as the corrected broadcast.
TAKES_OVER = "takes_over"
# A digest composes a text per reader, so a page of its audience is queued in slices of this many: each
# stays within a few milliseconds, and the senders sharing the event loop keep their reserved times. A
# plain broadcast's page is queued whole: smaller pieces would let the senders catch up with planning
# and claim half-empty batches.
DIGEST_SLICE = 200
PLAN_DONE = "done"
# What one delivery is queued with: the recipient's keyed hash, chat, language, a text of its own, that
# text's kind when it is not a digest, and a follow-up's reference of what the recipient got from the
# broadcast followed, with a correction's step (broadcasts/queue.py Delivery.step).
Entry = tuple[str, str, str, str, str, str, str]
# Messengers that can change a sent message in place; elsewhere a correction is a quoting follow-up only.
EDITABLE = frozenset({Channel.TELEGRAM, Channel.SANDBOX})
# A resident's fields the planner reads: to pick the text's language, and whether they agreed to the
# privacy notice as it is now (news and digests wait for that; alerts do not).
READER_FIELDS = ["language", "consent_version", CONSENT_ASKED]

# KEYS: seen, queue, plan, progress, broadcast, erased. ARGV: plan field, next cursor, total field, then
# (hash, chat, language, own text or "", its kind or "", reference or "", step or "")*. Answers -1 for
# a cancelled broadcast, whose keys must not come back. A recipient erased since their page of the audience
# was read is skipped (their hash, before a digest part's ":<number>", is in the erased set). The entry's
# fields are made by the delivery queue's own `entry` (broadcasts/queue_scripts.py).
_QUEUE_BATCH = (
    ENTRY
    + """
if redis.call('HGET', KEYS[5], 'state') == 'cancelled' then return -1 end
local added = 0
for i = 4, #ARGV, 7 do
  if redis.call('SISMEMBER', KEYS[6], string.match(ARGV[i], '^[^:]+')) == 0
     and redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    local text = nil
    if ARGV[i + 3] ~= '' then text = ARGV[i + 3] end
    local fields = entry(ARGV[i + 1], ARGV[i + 2], text, ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
    redis.call('XADD', KEYS[2], '*', unpack(fields))
    added = added + 1
  end
end
redis.call('HINCRBY', KEYS[4], ARGV[3], added)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return added
"""
)


class PlanningCancelled(Exception):
    """The broadcast was cancelled while its audience was being planned."""


class Planner:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        hasher: Callable[[str], str],
        city: Callable[[], City],
        channels: Sequence[Channel],
        *,
        digests: Callable[[Broadcast], Awaitable[DigestRun]],
        reconsent: Callable[[str, Channel], str],
    ) -> None:
        self._digests = digests
        # The request to agree to a changed privacy notice, in a language, as the messenger types it.
        self._reconsent = reconsent
        self._redis = redis
        self._keys = keys
        self._hash = hasher
        self._city = city
        self._channels = tuple(channels)
        self._queue_batch = redis.register_script(_QUEUE_BATCH)
        self._ids = MessageIds(redis, keys)

    async def prepare(self, broadcast_id: str) -> None:
        """Create each channel's delivery stream and its consumer group before anything is queued."""
        for channel in self._channels:
            await open_stream(self._redis, self._keys, broadcast_id, channel)

    async def keep_refs(self, broadcast: Broadcast, now: datetime) -> None:
        """News and alerts keep what each recipient got for the city's `correction_days`, so that they can
        be corrected (a longer retention set before, a warning's, stays). Digests keep nothing."""
        if broadcast.priority is not Priority.DIGEST:
            until = now + timedelta(days=self._city().correction_days)
            await self._ids.keep_at_least(broadcast.id, until, now)

    async def plan(self, broadcast: Broadcast) -> int:
        """Queue every recipient not yet queued; returns how many this call added."""
        city = self._city()
        topics = [t.id for t in city.topics] if broadcast.all_topics else list(broadcast.topics)
        digest = await self._digests(broadcast) if broadcast.priority is Priority.DIGEST else None
        modes = {Priority.ALERT: (False, True), Priority.NEWS: (False,), Priority.DIGEST: (True,)}
        added = 0
        progress = self._keys.broadcast_progress(broadcast.id)
        takes_over = bool(broadcast.follows) and await self._redis.hget(progress, TAKES_OVER) == "1"
        for channel in self._channels:
            if broadcast.follows:
                # First those who got the original: the seen set keeps them from the rest after.
                added += await self._plan_followers(broadcast, channel)
                if not takes_over:
                    continue
            for topic_id in topics:
                for daily in modes[broadcast.priority]:
                    added += await self._plan_audience(broadcast, topic_id, channel, daily, digest)
            if channel is Channel.TELEGRAM and digest is None:
                added += await self._plan_mirrors(broadcast, topics)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.broadcast_progress(broadcast.id), "planned", "1")
            pipe.delete(self._keys.broadcast_seen(broadcast.id), self._keys.broadcast_erased(broadcast.id))
            await pipe.execute()
        return added

    async def _plan_audience(
        self, broadcast: Broadcast, topic_id: str, channel: Channel, daily: bool, digest: DigestRun | None
    ) -> int:
        field = f"{topic_id}:{channel.value}{':daily' if daily else ''}"
        audience = (self._keys.audience_daily if daily else self._keys.audience)(topic_id, channel)
        plan_key = self._keys.broadcast_plan(broadcast.id)
        saved = await self._redis.hget(plan_key, field)
        if saved == PLAN_DONE:
            return 0
        cursor = int(saved or 0)
        added = 0
        while True:
            page = cursor
            cursor, members = await self._redis.sscan(audience, cursor=page, count=SCAN_BATCH)
            chats = [str(m) for m in members]
            size = SCAN_BATCH if digest is None else DIGEST_SLICE
            for start in range(0, max(len(chats), 1), size):
                part = chats[start : start + size]
                if digest is None:
                    entries, asked = await self._entries(broadcast, channel, part)
                else:
                    entries, asked = await self._digest_entries(digest, channel, part)
                # Until its last slice is queued, planning resumes at this page; the seen set keeps
                # anyone already queued from this page from being queued twice.
                if start + size < len(chats):
                    resume_at = str(page)
                else:
                    resume_at = PLAN_DONE if cursor == 0 else str(cursor)
                added += await self._queue(
                    broadcast.id, channel=channel, plan_field=field, next_cursor=resume_at, entries=entries
                )
                if asked:
                    await note_asked(self._redis, self._keys, asked, self._city().privacy.version)
            if cursor == 0:
                return added

    async def _plan_followers(self, broadcast: Broadcast, channel: Channel) -> int:
        """A follow-up goes to exactly those who got the broadcast it follows, on the channel they got it
        on, as a reply to it; a correction also edits it where the messenger can. A resident erased since
        is not among them (erasure forgot their reference, and their record is gone)."""
        field = f"follows:{channel.value}"
        plan_key = self._keys.broadcast_plan(broadcast.id)
        saved = await self._redis.hget(plan_key, field)
        if saved == PLAN_DONE:
            return 0
        cursor, added = int(saved or 0), 0
        edit = broadcast.amends is not None and channel in EDITABLE
        while True:
            cursor, page = await self._ids.recipients(broadcast.follows, channel, cursor, SCAN_BATCH)
            readers = await self._readers(channel, [chat for chat, _ in page])
            entries: list[Entry] = []
            for (chat, ref), (language, given, _) in zip(page, readers, strict=True):
                if given is None and self._city_chat(chat) is None:
                    continue  # no record: erased meanwhile
                reader = "en" if language == "en" else ""
                recipient = self._recipient(channel, chat)
                if edit:
                    entries.append((f"{recipient}:edit", chat, reader, "", "", ref, EDIT))
                step = "" if broadcast.amends is None else NOTE if edit else QUOTE
                entries.append((recipient, chat, reader, "", "", ref, step))
            added += await self._queue(
                broadcast.id,
                channel=channel,
                plan_field=field,
                next_cursor=PLAN_DONE if cursor == 0 else str(cursor),
                entries=entries,
            )
            if cursor == 0:
                return added

    def _city_chat(self, chat: str) -> str | None:
        """A public Telegram channel the city mirrors topics to: it has no resident record."""
        mirrors = {t.mirror_channel for t in self._city().topics if t.mirror_channel}
        return chat if chat in mirrors else None

    async def _plan_mirrors(self, broadcast: Broadcast, topics: Sequence[str]) -> int:
        """Topics may also appear in a public Telegram channel where the bot is an administrator."""
        city = self._city()
        mirrors = sorted({t.mirror_channel for t in city.topics if t.id in topics and t.mirror_channel})
        if not mirrors:
            return 0
        return await self._queue(
            broadcast.id,
            channel=Channel.TELEGRAM,
            plan_field="mirrors",
            next_cursor=PLAN_DONE,
            entries=[
                (self._hash(f"{Channel.TELEGRAM.value}:{chat}"), chat, "", "", "", "", "") for chat in mirrors
            ],
        )

    async def _entries(
        self, broadcast: Broadcast, channel: Channel, chats: Sequence[str]
    ) -> tuple[list[Entry], list[Resident]]:
        """The broadcast for each chat, in their language. An alert reaches everyone subscribed; news only
        residents who agreed to the privacy notice as it is now, and one who has not gets, once, the
        request to agree again instead. Returns the entries and who was asked."""
        if broadcast.priority is Priority.ALERT:
            languages = await self._languages(broadcast, channel, chats)
            return [(self._recipient(channel, chat), chat, language, "", "", "", "") for chat, language in
                    zip(chats, languages, strict=True)], []  # fmt: skip
        version = self._city().privacy.version
        outdated = await outdated_consents(self._redis, self._keys, channel, chats, version)
        agreed = [chat for chat, old in zip(chats, outdated, strict=True) if not old]
        languages = await self._languages(broadcast, channel, agreed)
        entries: list[Entry] = [
            (self._recipient(channel, chat), chat, language, "", "", "", "")
            for chat, language in zip(agreed, languages, strict=True)
        ]
        # Few, and only after the city changed its notice: their records say whether to ask them.
        waiting = [chat for chat, old in zip(chats, outdated, strict=True) if old]
        asked: list[Resident] = []
        readers = await self._readers(channel, waiting)
        for chat, (language, given, requested) in zip(waiting, readers, strict=True):
            if given is None:
                continue  # no record (erased meanwhile): nothing goes to anyone without consent
            if request := self._request(channel, chat, language, requested, asked):
                entries.append((self._recipient(channel, chat), *request))
        return entries, asked

    def _request(
        self, channel: Channel, chat: str, language: str | None, requested: str | None, asked: list[Resident]
    ) -> tuple[str, str, str, str, str, str] | None:
        """The request to agree to the changed privacy notice, unless this resident was asked already."""
        version = self._city().privacy.version
        if requested == version:
            return None
        asked.append(Resident(channel, chat))
        reader = "en" if language == "en" else ""
        return chat, reader, self._reconsent(reader or "de", channel), "news", "", ""

    def _recipient(self, channel: Channel, chat: str) -> str:
        return self._hash(f"{channel.value}:{chat}")

    async def _readers(self, channel: Channel, chats: Sequence[str]) -> list[list[str | None]]:
        if not chats:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                pipe.hmget(self._keys.resident(Resident(channel, chat)), READER_FIELDS)
            return cast(list[list[str | None]], await pipe.execute())

    async def _languages(self, broadcast: Broadcast, channel: Channel, chats: Sequence[str]) -> list[str]:
        """Only a broadcast with an English text needs to know who reads English."""
        if broadcast.text_en is None or not chats:
            return [""] * len(chats)
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                pipe.hget(self._keys.resident(Resident(channel, chat)), "language")
            found = await pipe.execute()
        return ["en" if language == "en" else "" for language in found]

    async def _digest_entries(
        self, digest: DigestRun, channel: Channel, chats: Sequence[str]
    ) -> tuple[list[Entry], list[Resident]]:
        """Each resident's own digest, one entry per message; nothing for those with nothing new. One who
        has not agreed to the privacy notice as it is now gets, once, the request to agree again."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                resident = Resident(channel, chat)
                pipe.hmget(self._keys.resident(resident), [*READER_FIELDS, "daily_since"])
                pipe.smembers(self._keys.resident_topics(resident))
            found = await pipe.execute()
        entries: list[Entry] = []
        asked: list[Resident] = []
        for index, chat in enumerate(chats):
            (language, agreed, requested, since), topics = found[2 * index], found[2 * index + 1]
            recipient = self._recipient(channel, chat)
            if agreed is None:
                continue
            if agreed != self._city().privacy.version:
                if request := self._request(channel, chat, language, requested, asked):
                    entries.append((recipient, *request))
                continue
            parts = digest.parts(topics, language or "", datetime.fromisoformat(since) if since else None)
            for number, text in enumerate(parts):
                # The recipient's hash marks the first part; the others are told apart by their number.
                part = recipient if number == 0 else f"{recipient}:{number}"
                entries.append((part, chat, language or "", text, "", "", ""))
        return entries, asked

    async def _queue(
        self,
        broadcast_id: str,
        *,
        channel: Channel,
        plan_field: str,
        next_cursor: str,
        entries: Sequence[Entry],
    ) -> int:
        args: list[str] = [plan_field, next_cursor, f"total:{channel.value}"]
        for entry in entries:
            args += entry
        keys = [
            self._keys.broadcast_seen(broadcast_id),
            self._keys.broadcast_queue(broadcast_id, channel),
            self._keys.broadcast_plan(broadcast_id),
            self._keys.broadcast_progress(broadcast_id),
            self._keys.broadcast(broadcast_id),
            self._keys.broadcast_erased(broadcast_id),
        ]
        added = int(await self._queue_batch(keys=keys, args=args))
        if added < 0:
            raise PlanningCancelled(broadcast_id)
        return added
