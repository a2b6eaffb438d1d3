"""A broadcast and the states it moves through. Later features only use these states, never add to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

ALL_TOPICS = "alle"
# The author of what the service makes on its own (digests), and the approver of what needs none.
SYSTEM = "system"


class State(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    EXPIRED = "expired"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    HELD = "held"  # quiet hours, or missed while the service was down
    QUEUED = "queued"  # the audience is being planned into the delivery queue
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.REJECTED, State.EXPIRED, State.DONE, State.CANCELLED})
# Not yet on its way to residents: what staff still decide about (and break-glass alerts to check).
OPEN = frozenset({State.DRAFT, State.PENDING_APPROVAL, State.APPROVED, State.SCHEDULED, State.HELD})

# Every allowed move. A change to an approved but unsent broadcast goes back to DRAFT for a new approval.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.PENDING_APPROVAL, State.APPROVED, State.CANCELLED, State.EXPIRED}),
    State.PENDING_APPROVAL: frozenset(
        {State.APPROVED, State.REJECTED, State.EXPIRED, State.CANCELLED, State.DRAFT}
    ),
    State.APPROVED: frozenset({State.SCHEDULED, State.HELD, State.QUEUED, State.CANCELLED, State.DRAFT}),
    State.SCHEDULED: frozenset({State.QUEUED, State.HELD, State.CANCELLED, State.DRAFT}),
    State.HELD: frozenset({State.QUEUED, State.SCHEDULED, State.CANCELLED}),
    State.QUEUED: frozenset({State.SENDING, State.PAUSED, State.CANCELLED}),
    State.SENDING: frozenset({State.PAUSED, State.DONE, State.CANCELLED}),
    State.PAUSED: frozenset({State.SENDING, State.QUEUED, State.CANCELLED}),
    State.REJECTED: frozenset(),
    State.EXPIRED: frozenset(),
    State.DONE: frozenset(),
    State.CANCELLED: frozenset(),
}


class Hold(StrEnum):
    """Why a broadcast is held: the quiet hours (it goes out when they end), or its time passed while the
    service was down for longer than the grace (it waits for staff to send or cancel it)."""

    QUIET = "quiet"
    MISSED = "missed"


class Priority(IntEnum):
    """Lower sends first: an alert overtakes queued and running news and digests."""

    ALERT = 0
    NEWS = 1
    DIGEST = 2


class Amendment(StrEnum):
    """What a broadcast that follows another does to it (see Broadcast.follows)."""

    CORRECTION = "correction"  # the original is changed to the new text, and its recipients told
    RETRACTION = "retraction"  # the original is withdrawn, and its recipients told


class NotApproved(ValueError):
    """The broadcast's content is not the version that was approved (or not the one the approver saw):
    it must not move on towards residents."""

    def __init__(self, broadcast_id: str, current: State) -> None:
        super().__init__(f"broadcast {broadcast_id} is not the approved version")
        self.broadcast_id = broadcast_id
        self.current = current


class InvalidTransition(ValueError):
    def __init__(self, current: State, wanted: State) -> None:
        super().__init__(f"a broadcast in state {current.value} cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: str
    topics: tuple[str, ...]  # topic ids, or (ALL_TOPICS,)
    text_de: str
    author: str  # a staff id, or "system" for digests
    created_at: datetime
    priority: Priority = Priority.NEWS
    text_en: str | None = None
    image: str | None = None  # its picture's name in broadcasts/images.py; uploaded once per channel
    links: tuple[str, ...] = ()
    state: State = State.DRAFT
    needs_review: bool = False  # break-glass alerts sent without approval
    escalated: bool = False  # an alert waiting for approval too long; approvers and admins were reminded
    scheduled_for: datetime | None = None
    # Repeating news (broadcasts.calendar.Recurrence, encoded): the series itself never sends; each
    # due occurrence becomes a broadcast of its own.
    recurrence: str | None = None
    # A digest bundles the news published after this moment, up to its scheduled_for.
    since: datetime | None = None
    held: Hold | None = None  # set when the broadcast last became HELD
    # The content hash of this text (broadcasts/version.py), new with every write of the content, and
    # the random salt it was taken with, so that nobody can prepare two texts with the same short hash.
    version: str = ""
    salt: str = ""
    # The version that was approved, and by whom: the approver, the author where no approval was needed
    # (or a break-glass alert), "system" for digests. Only this version may reach residents.
    approved: str = ""
    approved_by: str = ""
    # Who paused it last, and whether as an approver: then only an approver may let it go on.
    paused_by: str = ""
    approver_paused: bool = False
    # A follow-up: the id of an earlier broadcast whose recipients, exactly, get this one, each as a reply
    # to what they got (broadcasts/message_ids.py), instead of the topics' audience.
    follows: str = ""
    # With `follows`: this corrects or retracts it (the message itself is changed where the messenger can).
    amends: Amendment | None = None
    # The latest correction or retraction of this one that went out: digests and new subscribers read it.
    amended_by: str = ""

    @property
    def bound(self) -> bool:
        """Whether what is stored is exactly the version that was approved."""
        return bool(self.approved) and self.approved == self.version

    @property
    def all_topics(self) -> bool:
        return ALL_TOPICS in self.topics

    def text(self, language: str) -> str:
        return self.text_en if language == "en" and self.text_en else self.text_de
