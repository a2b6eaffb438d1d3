"""The values the desk takes and gives: who acts and from where, what it answers, and why it refuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from city.config import StaffMember

from broadcasts import approval
from broadcasts.audit import Via
from broadcasts.model import Broadcast, State


class DeskProblem(StrEnum):
    UNKNOWN = "unknown"  # no such broadcast
    REFUSED = "refused"  # the rules say no; see `refusal`
    WRONG_STATE = "wrong_state"  # e.g. approving what was already sent
    NOT_AUTHOR = "not_author"
    STALE = "stale"  # the version named is no longer the broadcast's: it was changed since
    UNCONFIRMED = "unconfirmed"  # no version named: the person must see the current one first
    NOT_SENT = "not_sent"  # a correction of what never went out: edit or stop it instead
    TOO_LATE = "too_late"  # a correction after `correction_days`: the message ids are gone
    NOT_AMENDABLE = "not_amendable"  # a digest, or a correction itself


class DeskError(Exception):
    def __init__(
        self,
        problem: DeskProblem,
        *,
        state: State | None = None,
        refusal: approval.Refusal | None = None,
        topics: tuple[str, ...] = (),
        broadcast: Broadcast | None = None,
    ) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.state = state
        self.refusal = refusal
        self.topics = topics
        self.broadcast = broadcast  # as it stands now, for STALE and UNCONFIRMED


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, from where: a messenger, the sandbox or the command line (with the OS user)."""

    member: StaffMember
    via: Via
    os_user: str = ""


@dataclass(frozen=True, slots=True)
class Submitted:
    broadcast: Broadcast
    approvers: list[StaffMember]  # to notify; empty when no approval was needed and it went out


@dataclass(frozen=True, slots=True)
class Edited:
    broadcast: Broadcast
    # What it was before, and its version then: a request or an approval of that version is void now.
    was: State
    replaced: str
