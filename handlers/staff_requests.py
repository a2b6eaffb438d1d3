"""What approvers are asked: one version of a broadcast, shown whole, with buttons bound to that version.

A button carries the typed command it stands for, with the version's short hash
("/freigeben 12 a1b2c3d4e5f6", at most 64 bytes for Telegram): pressing an old request after the text
changed approves nothing. A typed approval without the hash gets the current version to check first.
"""

from __future__ import annotations

from broadcasts import approval
from broadcasts.model import Broadcast, Priority, State
from broadcasts.version import short
from city.config import StaffMember
from handlers.router import Context
from handlers.staff_common import chats, local_time, notice, staff_name, to_staff
from handlers.values import Button, Reply


def rendered(ctx: Context, broadcast: Broadcast) -> str:
    """Every language version the approver approves, as recipients read it."""
    versions = ("de", "en") if broadcast.text_en else ("de",)
    shown = "\n\n".join(ctx.services.render(broadcast, language) for language in versions)
    if broadcast.amends is not None:  # what it does, then what the original's recipients read
        return f"{ctx.t(f'staff_{broadcast.amends.value}_of', id=broadcast.follows)}\n\n{shown}"
    return shown


def arrival(ctx: Context, broadcast: Broadcast, to: StaffMember | None = None) -> list[str]:
    """When news approved now really arrives: after the quiet hours, unless someone sends it anyway."""
    if broadcast.priority is not Priority.NEWS:
        return []
    until = ctx.services.desk.quiet_until(broadcast.scheduled_for or ctx.services.clock())
    if until is None:
        return []
    quiet = ctx.city.quiet_hours
    language = to.language if to is not None else ctx.language
    note = ctx.services.texts(
        language,
        "staff_request_quiet",
        start=f"{quiet.start:%H:%M}",
        end=f"{quiet.end:%H:%M}",
        when=local_time(ctx, until),
    )
    return [note]


def decision_buttons(ctx: Context, to: StaffMember | None, broadcast: Broadcast) -> tuple[tuple[Button, ...]]:
    approve, reject = (notice(ctx, to, key) for key in ("button_approve", "button_reject"))
    bound = f"{broadcast.id} {short(broadcast.version)}"
    return ((Button(approve, f"/freigeben {bound}"), Button(reject, f"/ablehnen {bound}")),)


def approval_requests(ctx: Context, author: StaffMember, broadcast: Broadcast) -> list[Reply]:
    """The request to every approver of the broadcast except its author, in each of their chats."""
    replies = []
    for approver in approval.approvers(ctx.city, broadcast):
        request = notice(
            ctx,
            approver,
            "staff_approval_request",
            author=author.name,
            id=broadcast.id,
            version=short(broadcast.version),
        )
        replies += [
            Reply(
                "\n\n".join([request, rendered(ctx, broadcast), *arrival(ctx, broadcast, approver)]),
                buttons=decision_buttons(ctx, approver, broadcast),
                to=to,
            )
            for to in chats(approver)
        ]
    return replies


def review_requests(ctx: Context, author: StaffMember, broadcast: Broadcast) -> list[Reply]:
    """A break-glass alert went out: every approver is asked to check exactly what was sent."""
    replies = []
    for approver in approval.approvers(ctx.city, broadcast):
        version = short(broadcast.version)
        text = notice(
            ctx, approver, "staff_review_request", id=broadcast.id, author=author.name, version=version
        )
        button = Button(notice(ctx, approver, "button_reviewed"), f"/geprueft {broadcast.id} {version}")
        replies += [
            Reply(f"{text}\n\n{rendered(ctx, broadcast)}", buttons=((button,),), to=to)
            for to in chats(approver)
        ]
    return replies


def confirm_version(ctx: Context, broadcast: Broadcast, *, review: bool = False) -> list[Reply]:
    """The current version to check before approving (or confirming a sent alert), with bound buttons."""
    version = short(broadcast.version)
    if review:
        text = ctx.t("staff_confirm_review", id=broadcast.id, version=version)
        buttons: tuple[tuple[Button, ...], ...] = (
            (Button(ctx.t("button_reviewed"), f"/geprueft {broadcast.id} {version}"),),
        )
    else:
        text = ctx.t("staff_confirm_version", id=broadcast.id, version=version)
        buttons = decision_buttons(ctx, None, broadcast) if broadcast.state is State.PENDING_APPROVAL else ()
    notes = [] if review else arrival(ctx, broadcast)
    return [Reply("\n\n".join([text, rendered(ctx, broadcast), *notes]), buttons=buttons)]


def stale(ctx: Context, approver: StaffMember, current: Broadcast, named: str) -> list[Reply]:
    """An approval of a version that is no longer the broadcast's: nothing is sent. The pressed request
    is marked void, the approver gets the current version to check, and the author hears why."""
    replies = [
        Reply(
            ctx.t("staff_version_changed", id=current.id, version=named[:16]), replace=ctx.inbound.is_button
        )
    ]
    if current.state is State.PENDING_APPROVAL:
        replies += confirm_version(ctx, current)
    author = ctx.city.staff_member(current.author)
    told = notice(ctx, author, "staff_version_changed_author", id=current.id, approver=approver.name)
    return [*replies, *to_staff(ctx, current.author, told)]


def voided(ctx: Context, edited: Broadcast, replaced: str, was: State) -> list[Reply]:
    """A text changed after it was submitted or approved: those asked to approve it hear that the old
    request is void; the new version reaches them when it is submitted."""
    if was not in (State.PENDING_APPROVAL, State.APPROVED, State.SCHEDULED):
        return []
    replies = []
    for approver in approval.approvers(ctx.city, edited):
        text = notice(
            ctx,
            approver,
            "staff_request_void",
            id=edited.id,
            version=short(replaced),
            author=staff_name(ctx, edited.author),
        )
        replies += [Reply(text, to=to) for to in chats(approver)]
    return replies
