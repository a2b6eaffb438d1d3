"""What is answered before any command is looked at: group chats, stale messages, a flooding chat.

A group is no place for staff work (a draft's preview is embargoed text) nor for one member's consent on
behalf of all, so there the bot only points to a private chat. A message that waited in an outage is not
acted on blindly: a staff command older than STAFF_STALE is skipped and its author told, a resident's
message older than RESIDENT_STALE is dropped without a word (nobody waits for that answer any more).
"""

from __future__ import annotations

from datetime import timedelta

from handlers.router import Context
from handlers.staff_common import staff_member
from handlers.values import Inbound, Reply

STAFF_STALE = timedelta(minutes=5)
RESIDENT_STALE = timedelta(hours=24)
# How much of a skipped command its author is shown, so that they recognise it.
QUOTE_CHARS = 60


def ahead(ctx: Context) -> list[Reply] | None:
    """The answer that replaces handling the message, or None to handle it."""
    inbound = ctx.inbound
    if not inbound.private_chat:
        # Only what is addressed to the bot (a command, one of its buttons) is answered, and only with
        # the hint: the group's own conversation is none of its business.
        addressed = inbound.is_button or inbound.text.lstrip().startswith("/")
        return [Reply(ctx.t("group_hint"))] if addressed else []
    age = ctx.services.clock() - inbound.at
    if staff_member(ctx) is not None:
        if age > STAFF_STALE:
            return [Reply(ctx.t("stale_command", what=_quote(inbound), minutes=int(age.total_seconds() // 60),
                                limit=int(STAFF_STALE.total_seconds() // 60)))]  # fmt: skip
        return None
    return [] if age > RESIDENT_STALE else None


def _quote(inbound: Inbound) -> str:
    text = " ".join(inbound.text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"
