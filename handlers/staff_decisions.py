"""What staff decide about a written broadcast: approve, reject, cancel, pause, resume, confirm an alert.

Every decision goes through the desk (broadcasts/desk.py), which checks the four-eyes rules and audits it.
An approval and a review name the version they are about (the short hash on the request's buttons).
"""

from __future__ import annotations

from dataclasses import replace

from broadcasts.desk_values import DeskError, DeskProblem
from broadcasts.model import State
from broadcasts.version import SHORT_HASH
from city.config import StaffMember
from handlers.router import Context, Router
from handlers.staff_common import acting, notice, on_broadcast, released, staff_name, staff_only, to_staff
from handlers.staff_requests import confirm_version, stale
from handlers.values import Reply

router = Router()


@router.command("freigeben", "approve")
@staff_only
@on_broadcast
async def approve(ctx: Context, member: StaffMember, broadcast_id: str, rest: str) -> list[Reply]:
    """Approves the version of someone else's broadcast named by its short hash (four-eyes principle),
    which then goes out; without a hash, shows the current version to approve. Sends a held one."""
    version = rest.split(maxsplit=1)[0] if rest else None
    before = await ctx.services.desk.get(broadcast_id)
    try:
        approved = await ctx.services.desk.approve(acting(ctx, member), broadcast_id, version)
    except DeskError as error:
        if error.problem is DeskProblem.UNCONFIRMED and error.broadcast is not None:
            return confirm_version(ctx, error.broadcast)
        if error.problem is DeskProblem.STALE and error.broadcast is not None:
            return stale(ctx, member, error.broadcast, version or "")
        raise
    if before.state is State.HELD:
        return [Reply(ctx.t("staff_held_sent", id=approved.id), replace=ctx.inbound.is_button),
                *_sent_anyway(ctx, member, approved.author, approved.id)]  # fmt: skip
    author = ctx.city.staff_member(approved.author)
    outcome = released(ctx, approved, author)
    text = notice(
        ctx, author, "staff_approved_author", id=approved.id, approver=member.name, what=outcome.text
    )
    mine = released(ctx, approved)
    return [
        Reply(mine.text, buttons=mine.buttons, replace=ctx.inbound.is_button),
        *[replace(r, buttons=outcome.buttons) for r in to_staff(ctx, approved.author, text)],
    ]


def _sent_anyway(ctx: Context, member: StaffMember, author_id: str, broadcast_id: str) -> list[Reply]:
    """The author hears when someone else sent their held news at once."""
    if author_id == member.id:
        return []
    author = ctx.city.staff_member(author_id)
    text = notice(ctx, author, "staff_held_sent_author", id=broadcast_id, sender=member.name)
    return to_staff(ctx, author_id, text)


@router.command("ablehnen", "reject")
@staff_only
@on_broadcast
async def reject(ctx: Context, member: StaffMember, broadcast_id: str, rest: str) -> list[Reply]:
    """Rejects someone else's broadcast, with an optional reason for the author; a button names the
    version it rejects."""
    first, _, after = rest.partition(" ")
    version, reason = (first, after.strip()) if SHORT_HASH.fullmatch(first.lower()) else (None, rest)
    try:
        rejected = await ctx.services.desk.reject(acting(ctx, member), broadcast_id, version, reason[:500])
    except DeskError as error:
        if error.problem is DeskProblem.STALE and error.broadcast is not None:
            return stale(ctx, member, error.broadcast, version or "")
        raise
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
    cancelled = await ctx.services.desk.cancel(acting(ctx, member), broadcast_id)
    return [Reply(ctx.t("staff_cancelled", id=cancelled.id))]


@router.command("anhalten", "pause")
@staff_only
@on_broadcast
async def pause(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Holds a broadcast that is sending; /fortsetzen sends the rest (after an approver's pause, only an
    approver may)."""
    paused = await ctx.services.desk.pause(acting(ctx, member), broadcast_id)
    key = "staff_paused_by_approver" if paused.approver_paused else "staff_paused"
    return [Reply(ctx.t(key, id=paused.id))]


@router.command("fortsetzen", "resume")
@staff_only
@on_broadcast
async def resume(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Sends the rest of a paused broadcast, also one WhatsApp's spam limit paused."""
    resumed = await ctx.services.desk.resume(acting(ctx, member), broadcast_id)
    return [Reply(ctx.t("staff_resumed", id=resumed.id))]


@router.command("geprueft", "reviewed")
@staff_only
@on_broadcast
async def reviewed(ctx: Context, member: StaffMember, broadcast_id: str, rest: str) -> list[Reply]:
    """Confirms the version of a break-glass alert that was sent; without its hash, shows it first."""
    version = rest.split(maxsplit=1)[0] if rest else None
    try:
        checked = await ctx.services.desk.review(acting(ctx, member), broadcast_id, version)
    except DeskError as error:
        if error.problem in (DeskProblem.UNCONFIRMED, DeskProblem.STALE) and error.broadcast is not None:
            return confirm_version(ctx, error.broadcast, review=True)
        raise
    return [Reply(ctx.t("staff_reviewed", id=checked.id), replace=ctx.inbound.is_button)]
