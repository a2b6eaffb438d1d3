"""A notice: something a staff member must be told without having asked, handed out as a value.

The desk's upkeep, the scheduler and the engine's spam limit decide what to tell whom; the service
renders each notice (handlers/staff_notices.py `notice_replies`) and delivers it. Nothing calls back up.
"""

from __future__ import annotations

from dataclasses import dataclass

from city.config import StaffMember

from broadcasts.model import Broadcast


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a staff member must be told without having asked: rendered by handlers/staff_notices.py."""

    to: StaffMember
    key: str  # a text id of handlers/locale
    broadcast: Broadcast
