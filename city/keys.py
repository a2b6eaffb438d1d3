"""Every Redis key stadtfunk uses is spelled here and nowhere else.

Keys carry a `{hash tag}` per resident, audience or broadcast, so that a Redis Cluster keeps each
group of keys that one command or transaction touches in one slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from city.values import Channel, Resident

# 2: the open-broadcast index, content versions of broadcasts and the chained audit log.
# 3: the retention indexes (residents without topics or blocked, broadcasts' delivery records).
SCHEMA_VERSION = 3


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def pattern(self) -> str:
        """Everything stadtfunk owns, for scans in tests and tooling."""
        return f"{self.prefix}:*"

    def schema(self) -> str:
        return f"{self.prefix}:meta:schema"

    def id_hash_check(self) -> str:
        """The keyed hash of a fixed text: which ID_HASH_SECRET the data was written with."""
        return f"{self.prefix}:meta:id-hash"

    def resident(self, resident: Resident) -> str:
        return f"{self.prefix}:res:{{{resident.ref}}}"

    def resident_pattern(self) -> str:
        """Every resident's keys, for a scan (the records end in their hash tag)."""
        return f"{self.prefix}:res:{{*"

    def resident_records(self) -> str:
        """A SCAN pattern for every resident's record, and nothing else: the record alone ends in its tag."""
        return f"{self.prefix}:res:{{*}}"

    def resident_of(self, record_key: str) -> Resident | None:
        """Whose record a key found by `resident_records` is; None for any other key."""
        head, brace, tail = record_key.partition(":res:{")
        channel, colon, chat_id = tail.removesuffix("}").partition(":")
        if head != self.prefix or not brace or not tail.endswith("}") or not colon:
            return None
        try:
            return Resident(Channel(channel), chat_id)
        except ValueError:  # a messenger this release does not know
            return None

    def resident_topics(self, resident: Resident) -> str:
        return f"{self.prefix}:res:{{{resident.ref}}}:topics"

    def resident_pending(self, resident: Resident) -> str:
        """A short-lived mark that a destructive confirmation (erase, unsubscribe all) is awaited."""
        return f"{self.prefix}:res:{{{resident.ref}}}:pending"

    def resident_misses(self, resident: Resident) -> str:
        """When sends last answered "chat not found"; two within 24 h retire the resident."""
        return f"{self.prefix}:res:{{{resident.ref}}}:misses"

    def consent_awaiting(self, channel: Channel) -> str:
        """Residents who agreed to an older privacy notice than the city's current one; news waits."""
        return f"{self.prefix}:consent-awaiting:{channel.value}"

    def consent_notice(self) -> str:
        """Which notice version the awaiting lists are complete for, and how far listing a new one got."""
        return f"{self.prefix}:consent-notice"

    def retention_unsubscribed(self) -> str:
        """Residents with no topics left, by since when: erased after the city's unsubscribed_days."""
        return f"{self.prefix}:retention:unsubscribed"

    def retention_inactive(self) -> str:
        """Residents who blocked the bot or cannot be reached, by since when: erased after blocked_days."""
        return f"{self.prefix}:retention:inactive"

    def retention_records(self) -> str:
        """Broadcasts whose delivery records are yet to be deleted, by when to look at them next."""
        return f"{self.prefix}:retention:records"

    def retention(self) -> str:
        """The retention sweep's lease and how far it has read the broadcast index."""
        return f"{self.prefix}:retention"

    def audience(self, topic_id: str, channel: Channel) -> str:
        return f"{self.prefix}:aud:{{{topic_id}:{channel.value}}}"

    def audience_daily(self, topic_id: str, channel: Channel) -> str:
        """Subscribers who chose one digest a day; the same hash tag as `audience`, so SMOVE switches."""
        return f"{self.prefix}:aud:{{{topic_id}:{channel.value}}}:daily"

    def daily_stats(self, day: date) -> str:
        return f"{self.prefix}:stats:{day.isoformat()}"

    def daily_levels(self, day: date) -> str:
        """Subscribers per topic and channel as last seen that day (city/statistics.py): counts only."""
        return f"{self.prefix}:stats:{day.isoformat()}:levels"

    def limiter(self, channel: Channel, account: str | int) -> str:
        """The shared send budget of one bot token or WhatsApp number, used by every process.

        The limiter keeps each recipient's own pacing under it, at `<this key>:r:<keyed hash>`, so that
        one script call touches a single Cluster slot; those keys hold only a time and expire when idle.
        """
        return f"{self.prefix}:lim:{{{channel.value}:{account}}}"

    # --- broadcasts: every key of one broadcast shares the {bc:<id>} hash tag (one Cluster slot).

    def broadcast_sequence(self) -> str:
        return f"{self.prefix}:bc-seq"

    def broadcast_index(self) -> str:
        """All broadcasts by creation time, for listings."""
        return f"{self.prefix}:bc-index"

    def broadcast_open(self) -> str:
        """Broadcasts still open (a draft, awaiting approval or its time, held, an unchecked alert), by
        creation time: what expiry and /offen walk, however old. Only an index: the state decides."""
        return f"{self.prefix}:bc-open"

    def broadcast(self, broadcast_id: str) -> str:
        return f"{self.prefix}:{{bc:{broadcast_id}}}"

    def broadcast_progress(self, broadcast_id: str) -> str:
        return f"{self.prefix}:{{bc:{broadcast_id}}}:progress"

    def broadcast_plan(self, broadcast_id: str) -> str:
        """SSCAN cursors per topic and channel, saved with each planned batch so planning resumes."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:plan"

    def broadcast_planner(self, broadcast_id: str) -> str:
        """A lease: which process plans the audience right now."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:planner"

    def broadcast_seen(self, broadcast_id: str) -> str:
        """Keyed hashes of recipients already queued, so a resident in two topics gets one message."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:seen"

    def broadcast_erased(self, broadcast_id: str) -> str:
        """Keyed hashes of residents erased while the broadcast is planned: its planner skips them."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:erased"

    def broadcast_queue(self, broadcast_id: str, channel: Channel) -> str:
        """The delivery stream of one broadcast on one channel."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:q:{channel.value}"

    def broadcast_sending(self, broadcast_id: str, channel: Channel) -> str:
        """Stream entry ids whose send has started but not settled: the "maybe sent" after a crash."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:sending:{channel.value}"

    def broadcast_media(self, broadcast_id: str) -> str:
        """Per channel, the platform's id of the broadcast's uploaded image, reused for every send."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:media"

    def image(self, name: str) -> str:
        """A broadcast's picture by its content's name (broadcasts/images.py), base64."""
        return f"{self.prefix}:{{img:{name}}}"

    def image_users(self, name: str) -> str:
        """The broadcasts that show a picture; the same hash tag, so one script keeps or drops both."""
        return f"{self.prefix}:{{img:{name}}}:users"

    def broadcast_message_ids(self, broadcast_id: str, channel: Channel) -> str:
        """Per recipient on one channel, the platform's reference of what they got: chat id -> reference,
        for corrections and threaded updates (broadcasts/message_ids.py)."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:ids:{channel.value}"

    def message_ids_index(self) -> str:
        """Broadcasts whose recipients' message references are kept, by until when: erasure walks it."""
        return f"{self.prefix}:bc-ids"

    def active(self, channel: Channel) -> str:
        """Broadcasts with deliveries for this channel, scored so that the most urgent sorts first."""
        return f"{self.prefix}:active:{channel.value}"

    def workers(self, channel: Channel) -> str:
        """When each sender process was last seen, so that the pending work of dead ones is reclaimed."""
        return f"{self.prefix}:workers:{channel.value}"

    def schedule(self) -> str:
        """Broadcasts that wait for a time (scheduled, repeating, held for quiet hours), by due time.

        Only an index: the broadcast's state decides, so a stale member is harmless and tidied away.
        """
        return f"{self.prefix}:schedule"

    def topic_items(self, topic_id: str) -> str:
        """What was published in a topic, by time: for digests and for new subscribers' last three."""
        return f"{self.prefix}:items:{{{topic_id}}}"

    def digests(self) -> str:
        """The digest runs: the last local day handled and the end of the last digest's window."""
        return f"{self.prefix}:digests"

    def audit(self) -> str:
        """The append-only log of staff actions, each entry chained to the one before by a keyed hash."""
        return f"{self.prefix}:audit"

    def audit_rechain(self) -> str:
        """Where the upgrade to a chained audit log builds it, before it replaces the old one: its hash tag
        is the audit log's whole name, so that both lie in one Cluster slot (RENAME stays in one slot)."""
        return f"{{{self.audit()}}}:rechain"

    def audit_shipped(self) -> str:
        """The id of the last audit entry copied to syslog (AUDIT_SYSLOG)."""
        return f"{self.prefix}:audit-shipped"

    def audit_shipper(self) -> str:
        """A lease: which process copies the audit log to syslog right now, so that one does."""
        return f"{self.prefix}:audit-shipper"

    def migration(self) -> str:
        """A lease: which process migrates the data to the current schema right now."""
        return f"{self.prefix}:meta:migrating"

    def disk_rewrite(self) -> str:
        """Whether erasures wait for the append-only file's rewrite, and when the last one started."""
        return f"{self.prefix}:disk-rewrite"

    def control(self) -> str:
        """A pub/sub channel on which `stadtfunk reload` reaches every service process."""
        return f"{self.prefix}:control"

    def broadcast_report(self, broadcast_id: str) -> str:
        """The author's live progress message: its message id, last text and when it was last edited."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:report"

    def broadcast_reporter(self, broadcast_id: str) -> str:
        """A lease: which process edits the progress message, so that only one does."""
        return f"{self.prefix}:{{bc:{broadcast_id}}}:reporter"

    def reports(self) -> str:
        """Broadcasts whose author has a live progress message, until its summary is shown."""
        return f"{self.prefix}:reports"

    def staff_edit(self, staff_id: str) -> str:
        """Which draft a staff member's next plain message replaces (after pressing "Ändern")."""
        return f"{self.prefix}:staff-edit:{staff_id}"

    # --- outside sources polled for items (official warnings, press feeds): one {src:<id>} tag each.

    def source(self, source_id: str) -> str:
        """A polled source's state: its HTTP validators, its health and the times of its last polls."""
        return f"{self.prefix}:{{src:{source_id}}}"

    def source_seen(self, source_id: str) -> str:
        """The identities of the source's items already taken up, scored by when: each is taken once."""
        return f"{self.prefix}:{{src:{source_id}}}:seen"

    def source_lease(self, source_id: str) -> str:
        """A lease: which process polls this source now, so that only one does."""
        return f"{self.prefix}:{{src:{source_id}}}:lease"

    # --- official warnings (NINA): one {warn:<id>} tag per warning, whatever its version.

    def warning(self, warning_id: str) -> str:
        """A warning's thread: the versions handled, their broadcasts, its state and when it ends."""
        return f"{self.prefix}:{{warn:{warning_id}}}"

    def warnings(self) -> str:
        """Every warning the city knows of, by when it was last seen: for `stadtfunk warnings` and for
        closing those that left the dashboard or expired."""
        return f"{self.prefix}:warnings"

    def warning_twins(self) -> str:
        """The same warning under several ids (DWD twice, a second provider): its mark -> the first id."""
        return f"{self.prefix}:warning-twins"

    # --- WhatsApp: `hashed` is the resident's keyed hash (bot/storage/idhash.py), never the number itself.

    def whatsapp_window(self, hashed: str) -> str:
        """When the resident last wrote: their 24-hour customer-service window; expires with it."""
        return f"{self.prefix}:wa:{{{hashed}}}:window"

    def whatsapp_seen(self, hashed: str) -> str:
        """Keyed hashes of the resident's message ids already taken up (≥7 days), so replays count once."""
        return f"{self.prefix}:wa:{{{hashed}}}:seen"

    def telegram_inbox(self) -> str:
        """Telegram updates (webhook or polling), stored before they are acknowledged (consumer group)."""
        return f"{self.prefix}:tg-inbox"

    def telegram_seen(self, update_id: int) -> str:
        """Which inbox entry took up this update, and whether it is handled: each update counts once."""
        return f"{self.prefix}:tg-seen:{update_id}"

    def inbox_answers(self, channel: Channel, entry_id: str) -> str:
        """The answers to an inbox entry's messages, kept from their handling until they are sent."""
        return f"{self.prefix}:answers:{channel.value}:{entry_id}"

    def whatsapp_inbox(self) -> str:
        """Verified webhook bodies, stored before the 200 and processed after it (consumer group)."""
        return f"{self.prefix}:wa-inbox"

    def sandbox_outbox(self) -> str:
        """The sandbox's chats (bot/sandbox/store.py), under the sandbox's own prefix: the page's phones.
        Its keys share a hash tag, so that one transaction may change both."""
        return f"{self.prefix}:{{sandbox}}:outbox"

    def sandbox_closed(self) -> str:
        """Sandbox chats whose test person "blocked the bot" on the page."""
        return f"{self.prefix}:{{sandbox}}:closed"
