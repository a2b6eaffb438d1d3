"""What a message's mark says when an inbox entry takes it up."""

from __future__ import annotations

from enum import Enum


class Claim(Enum):
    NEW = "new"  # the first time, or this entry's own handling was cut short (a crash): handle it
    HANDLED = "handled"  # this entry handled it already: only its answers may still be unsent
    DUPLICATE = "duplicate"  # another entry carries it (the platform delivered it again): skip
