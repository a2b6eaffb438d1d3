"""What staff decide about a written broadcast: approve, reject, cancel, pause, resume, confirm an alert.

Every decision goes through the desk (broadcasts/desk.py), which checks the four-eyes rules and audits it.
"""

from __future__ import annotations

from broadcasts.model import State
from city.config import StaffMember
from handlers.router import Context, Router
from handlers.staff_common import notice, on_broadcast, released, staff_name, staff_only, to_staff
from handlers.values import Reply

router = Router()


@router.command("freigeben", "approve")
@staff_only
@on_broadcast
async def approve(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Approves someone else's broadcast, which then goes out (four-eyes principle); sends a held one."""
    before = await ctx.services.desk.get(broadcast_id)
    approved = await ctx.services.desk.approve(member, broadcast_id)
    if before.state is State.HELD:
        return [Reply(ctx.t("staff_held_sent", id=approved.id), replace=ctx.inbound.is_button)]
    author = ctx.city.staff_member(approved.author)
    what = released(ctx, approved, author.language if author else None)
    text = notice(ctx, author, "staff_approved_author", id=approved.id, approver=member.name, what=what)
    return [
        Reply(released(ctx, approved), replace=ctx.inbound.is_button),
        *to_staff(ctx, approved.author, text),
    ]


@router.command("ablehnen", "reject")
@staff_only
@on_broadcast
async def reject(ctx: Context, member: StaffMember, broadcast_id: str, reason: str) -> list[Reply]:
    """Rejects someone else's broadcast, with an optional reason for the author."""
    rejected = await ctx.services.desk.reject(member, broadcast_id, reason[:500])
    author = ctx.city.staff_member(rejected.author)
    text = notice(
        ctx,
        author,
        "staff_rejected_author",
        id=rejected.id,
        approver=member.name,
        reason=reason or notice(ctx, author, "staff_no_reason"),
    )
    answer = ctx.t("staff_rejected", id=rejected.id, author=staff_name(ctx, rejected.author))
    return [Reply(answer, replace=ctx.inbound.is_button), *to_staff(ctx, rejected.author, text)]


@router.command("abbrechen", "cancel")
@staff_only
@on_broadcast
async def cancel(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Withdraws a draft, a scheduled broadcast, or one that is sending."""
    cancelled = await ctx.services.desk.cancel(member, broadcast_id)
    return [Reply(ctx.t("staff_cancelled", id=cancelled.id))]


@router.command("anhalten", "pause")
@staff_only
@on_broadcast
async def pause(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Holds a broadcast that is sending; /fortsetzen sends the rest."""
    paused = await ctx.services.desk.pause(member, broadcast_id)
    return [Reply(ctx.t("staff_paused", id=paused.id))]


@router.command("fortsetzen", "resume")
@staff_only
@on_broadcast
async def resume(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Sends the rest of a paused broadcast, also one WhatsApp's spam limit paused."""
    resumed = await ctx.services.desk.resume(member, broadcast_id)
    return [Reply(ctx.t("staff_resumed", id=resumed.id))]


@router.command("geprueft", "reviewed")
@staff_only
@on_broadcast
async def reviewed(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Confirms a break-glass alert after the fact."""
    checked = await ctx.services.desk.review(member, broadcast_id)
    return [Reply(ctx.t("staff_reviewed", id=checked.id))]
