"""Who may do what with a broadcast: the four-eyes rules, as pure functions over the city's staff list.

Identity is the staff entry, not the messenger account: one person with a Telegram id and a WhatsApp
number is one author, and cannot approve their own broadcast from the other messenger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from city.config import City, Role, StaffMember

from broadcasts.model import ALL_TOPICS, Broadcast, Priority


class Refusal(StrEnum):
    """Why an action is not allowed; handlers turn each into a German or English sentence."""

    NOT_EDITOR = "not_editor"
    NOT_ALERT = "not_alert"
    NOT_APPROVER = "not_approver"
    OWN_BROADCAST = "own_broadcast"


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


def may_approve(city: City, member: StaffMember, broadcast: Broadcast) -> Verdict:
    """A different staff member with the approver role (or admin) for all the broadcast's topics."""
    if broadcast.author == member.id:
        return Verdict(False, Refusal.OWN_BROADCAST)
    missing = holds(member, "approver", topics_of(city, broadcast.topics))
    if missing:
        return Verdict(False, Refusal.NOT_APPROVER, missing)
    return Verdict.yes()


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
