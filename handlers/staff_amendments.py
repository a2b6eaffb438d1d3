"""Correcting and retracting what went out: /korrektur and /widerruf (typed as KORREKTUR and WIDERRUF on
WhatsApp). Each makes a broadcast of its own that the desk submits like any other (broadcasts/amendments.py):
an approver of its topics approves it, never its author, and an alert's may go break-glass."""

from __future__ import annotations

from broadcasts.desk_values import Submitted
from city.config import StaffMember
from handlers.router import Context, Router
from handlers.staff_common import acting, on_broadcast, staff_only
from handlers.staff_drafting import answer_submitted, split_languages
from handlers.values import Reply

router = Router()


@router.command("korrektur", "correct")
@staff_only
@on_broadcast
async def correct(ctx: Context, member: StaffMember, broadcast_id: str, text: str) -> list[Reply]:
    """Corrects a message that went out: its recipients find it changed (or quoted) with a note."""
    text_de, text_en = split_languages(text)
    if not text_de:
        return [Reply(ctx.t("staff_correct_usage", command=ctx.command))]
    submitted = await ctx.services.desk.amendments.correct(
        acting(ctx, member), broadcast_id, text_de, text_en
    )
    return _answer(ctx, member, submitted, "staff_correction_made")


@router.command("widerruf", "retract")
@staff_only
@on_broadcast
async def retract(ctx: Context, member: StaffMember, broadcast_id: str, reason: str) -> list[Reply]:
    """Withdraws a message that went out or is going out: the rest get nothing, its recipients a note."""
    submitted = await ctx.services.desk.amendments.retract(acting(ctx, member), broadcast_id, reason)
    return _answer(ctx, member, submitted, "staff_retraction_made")


def _answer(ctx: Context, member: StaffMember, submitted: Submitted, key: str) -> list[Reply]:
    made = submitted.broadcast
    return [Reply(ctx.t(key, id=made.id, original=made.follows)), *answer_submitted(ctx, member, submitted)]
