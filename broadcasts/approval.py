"""Who may do what with a broadcast: the four-eyes rules, as pure functions over the city's staff list.

Identity is the staff entry, not the messenger account: one person with a Telegram id and a WhatsApp
number is one author, and cannot approve their own broadcast from the other messenger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from city.config import City, Role, StaffMember

from broadcasts.model import ALL_TOPICS, SYSTEM, Broadcast, Priority

# The author of official warnings (broadcasts/warning_desk.py), named here so that approval needs no desk.
WARNINGS_AUTHOR = "warnings:nina"

# Every role that concerns a topic's broadcasts; holding any of them for all its topics lets one see a
# broadcast before it is out (its preview, /probe, /offen) and stop it.
TOPIC_ROLES: tuple[Role, ...] = ("editor", "approver", "alert")


class Refusal(StrEnum):
    """Why an action is not allowed; handlers turn each into a German or English sentence."""

    NOT_EDITOR = "not_editor"
    NOT_ALERT = "not_alert"
    NOT_APPROVER = "not_approver"
    OWN_BROADCAST = "own_broadcast"
    AUTHOR_LACKS_ROLE = "author_lacks_role"  # its author no longer holds the role (a reload took it)
    APPROVER_LACKS_ROLE = "approver_lacks_role"  # at sending: whoever approved it no longer may
    NEEDS_APPROVAL = "needs_approval"  # at sending: it went without approval, but now needs one
    APPROVER_PAUSED = "approver_paused"  # an approver paused it: only an approver lets it go on
    NOT_APPROVED = "not_approved"  # at sending: what is stored is not the version that was approved


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    refusal: Refusal | None = None
    topics: tuple[str, ...] = ()  # the topics that are missing the role, for the message

    @classmethod
    def yes(cls) -> Verdict:
        return cls(True)


def topics_of(city: City, topics: Iterable[str]) -> frozenset[str]:
    """The concrete topic ids a broadcast reaches ("alle" is every topic)."""
    wanted = frozenset(topics)
    return frozenset(t.id for t in city.topics) if ALL_TOPICS in wanted else wanted


def holds(member: StaffMember, role: Role, topics: Iterable[str]) -> tuple[str, ...]:
    """The topics among `topics` for which `member` lacks `role`; empty when they hold it for all."""
    scope = member.topics_for(role)
    if scope == "all":
        return ()
    return tuple(sorted(set(topics) - scope))


def may_draft(city: City, member: StaffMember, topics: Iterable[str], priority: Priority) -> Verdict:
    """Editors draft news for their topics; alerts need the alert role for every topic they reach."""
    role: Role = "alert" if priority is Priority.ALERT else "editor"
    missing = holds(member, role, topics_of(city, topics))
    if missing:
        return Verdict(False, Refusal.NOT_ALERT if role == "alert" else Refusal.NOT_EDITOR, missing)
    return Verdict.yes()


def may_see(city: City, member: StaffMember, broadcast: Broadcast) -> Verdict:
    """Its author, and staff with a role on every topic it reaches (a fire brigade's draft is the fire
    brigade's and the press office's, not the culture office's)."""
    if broadcast.author == member.id:
        return Verdict.yes()
    topics = topics_of(city, broadcast.topics)
    if any(not holds(member, role, topics) for role in TOPIC_ROLES):
        return Verdict.yes()
    return Verdict(False, Refusal.NOT_EDITOR, holds(member, "editor", topics))


def may_approve(city: City, member: StaffMember, broadcast: Broadcast) -> Verdict:
    """A different staff member with the approver role (or admin) for all the broadcast's topics, for an
    author who still holds the role to write it (the city file may have changed since it was written)."""
    if broadcast.author == member.id:
        return Verdict(False, Refusal.OWN_BROADCAST)
    missing = holds(member, "approver", topics_of(city, broadcast.topics))
    if missing:
        return Verdict(False, Refusal.NOT_APPROVER, missing)
    return author_may_write(city, broadcast)


def author_may_write(city: City, broadcast: Broadcast) -> Verdict:
    """Whether the broadcast's author, as the city file stands now, may still write it."""
    if broadcast.author == WARNINGS_AUTHOR:
        return _warnings_may_write(city, broadcast)
    author = city.staff_member(broadcast.author)
    if author is None:
        return Verdict(False, Refusal.AUTHOR_LACKS_ROLE, tuple(sorted(topics_of(city, broadcast.topics))))
    verdict = may_draft(city, author, broadcast.topics, broadcast.priority)
    return verdict if verdict.allowed else Verdict(False, Refusal.AUTHOR_LACKS_ROLE, verdict.topics)


def may_send(city: City, broadcast: Broadcast) -> Verdict:
    """At the moment it goes out, with the city file as it stands now: the content is the approved
    version, its author may still write it, and whoever approved it may still approve it (or, where it
    went without approval, it still needs none). Digests are the service's own."""
    if not broadcast.bound:
        return Verdict(False, Refusal.NOT_APPROVED)
    if broadcast.author == SYSTEM:
        return Verdict.yes()
    if broadcast.approved_by == broadcast.author:
        if broadcast.author == WARNINGS_AUTHOR:
            written = _warnings_may_write(city, broadcast)
            auto = city.warnings is not None and city.warnings.send == "auto"
            return written if not written.allowed or auto else Verdict(False, Refusal.NEEDS_APPROVAL)
        if _publishing_feed(city, broadcast.author):
            # A press feed in `publish` mode sends only where its topics need no approval (check-config).
            refused = needs_approval(city, broadcast) and broadcast.priority is not Priority.ALERT
            return Verdict(False, Refusal.NEEDS_APPROVAL) if refused else Verdict.yes()
        written = author_may_write(city, broadcast)
        if written.allowed and needs_approval(city, broadcast) and broadcast.priority is not Priority.ALERT:
            return Verdict(False, Refusal.NEEDS_APPROVAL)
        return written
    approver = city.staff_member(broadcast.approved_by)
    if approver is None:
        return Verdict(False, Refusal.APPROVER_LACKS_ROLE, tuple(sorted(topics_of(city, broadcast.topics))))
    verdict = may_approve(city, approver, broadcast)
    if not verdict.allowed and verdict.refusal is Refusal.NOT_APPROVER:
        return Verdict(False, Refusal.APPROVER_LACKS_ROLE, verdict.topics)
    return verdict


def may_resume(city: City, member: StaffMember, broadcast: Broadcast) -> Verdict:
    """A broadcast an approver paused goes on only with an approver of its topics (not its author); one
    paused by its author, an editor or the platform's spam limit with whoever may stop it."""
    if not broadcast.approver_paused:
        return Verdict.yes()
    if may_approve(city, member, broadcast).allowed:
        return Verdict.yes()
    return Verdict(False, Refusal.APPROVER_PAUSED, tuple(sorted(topics_of(city, broadcast.topics))))


def pauses_as_approver(city: City, member: StaffMember, broadcast: Broadcast) -> bool:
    """A pause by someone else than the author who may approve the broadcast holds it for approvers."""
    return broadcast.author != member.id and not holds(member, "approver", topics_of(city, broadcast.topics))


def needs_approval(city: City, broadcast: Broadcast) -> bool:
    """Sending to residents needs a second person unless every topic switched it off; alerts follow
    `alerts_need_approval` (break-glass when false)."""
    if broadcast.priority is Priority.ALERT:
        return city.alerts_need_approval
    topics = topics_of(city, broadcast.topics)
    return any(topic.approval_required for topic in city.topics if topic.id in topics)


def approvers(city: City, broadcast: Broadcast) -> list[StaffMember]:
    """Everyone who could approve the broadcast: they are notified with the preview and the buttons."""
    return [member for member in city.staff if may_approve(city, member, broadcast).allowed]


def admins(city: City) -> list[StaffMember]:
    return [member for member in city.staff if "admin" in member.roles]


def _warnings_may_write(city: City, broadcast: Broadcast) -> Verdict:
    """Official warnings go to the topic the city file's `warnings:` section names, as long as it does."""
    topics = topics_of(city, broadcast.topics)
    if city.warnings is None or topics - {city.warnings.topic}:
        return Verdict(False, Refusal.AUTHOR_LACKS_ROLE, tuple(sorted(topics)))
    return Verdict.yes()


def _publishing_feed(city: City, author: str) -> bool:
    """The author is a feed of the city file, as it stands now, that publishes on its own."""
    feed_id = author.removeprefix("feed:")
    return feed_id != author and any(feed.id == feed_id and feed.mode == "publish" for feed in city.feeds)
