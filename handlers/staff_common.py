"""Who is staff, what they may ask for, and how the desk's refusals and figures read in the chat.

Staff are recognised by their messenger id in the city file. Everyone else gets the same "unknown
command" answer as for any other unknown command, so staff commands are not advertised.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from broadcasts.approval import Refusal
from broadcasts.audit import Via
from broadcasts.desk_values import Actor, DeskError, DeskProblem
from broadcasts.model import Broadcast, State
from broadcasts.version import short
from broadcasts.warning_desk import NAMED_ID
from city.config import StaffMember
from city.values import Channel, Resident
from handlers import words
from handlers.router import Context
from handlers.values import Button, Reply

# A number ("12"), a repeat's occurrence ("12-20261130") or a digest ("digest-2026-11-30").
BROADCAST_ID = re.compile(rf"[0-9]+(?:-[0-9]{{8}})?|digest-[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}|{NAMED_ID}")
# The sandbox web chat (bot/sandbox/adapter.py) names a staff member's chat by their id in the city file;
# it runs only on loopback and only without messenger credentials, where acting as staff is its purpose.
SANDBOX_STAFF = "staff:"

StaffHandler = Callable[[Context, StaffMember], Awaitable[list[Reply]]]

BroadcastHandler = Callable[[Context, StaffMember, str, str], Awaitable[list[Reply]]]


def staff_only(handler: StaffHandler) -> Callable[[Context], Awaitable[list[Reply]]]:
    @wraps(handler)
    async def checked(ctx: Context) -> list[Reply]:
        member = staff_member(ctx)
        if member is None:
            return [Reply(ctx.not_understood())]
        try:
            return await handler(ctx, member)
        except DeskError as error:
            return [Reply(explain(ctx, error))]

    return checked


def on_broadcast(handler: BroadcastHandler) -> StaffHandler:
    """For commands about one broadcast: "/freigeben 12 [rest]"; without a number, how to write it."""

    @wraps(handler)
    async def with_id(ctx: Context, member: StaffMember) -> list[Reply]:
        first, _, rest = ctx.args.partition(" ")
        broadcast_id = first.lstrip("#").lower()
        if not BROADCAST_ID.fullmatch(broadcast_id):
            return [Reply(ctx.t("staff_usage_id", command=ctx.command))]
        return await handler(ctx, member, broadcast_id, rest.strip())

    return with_id


def acting(ctx: Context, member: StaffMember) -> Actor:
    """The member acting from the messenger (or the sandbox) the message came from, for the audit log."""
    return Actor(member, Via(ctx.inbound.channel.name.lower()))


def staff_member(ctx: Context) -> StaffMember | None:
    city = ctx.city
    sender = ctx.inbound.sender_id
    if ctx.inbound.channel is Channel.TELEGRAM and sender.isdecimal():
        return city.staff_by_telegram(int(sender))
    if ctx.inbound.channel is Channel.WHATSAPP:
        return city.staff_by_whatsapp(sender)
    if ctx.inbound.channel is Channel.SANDBOX and sender.startswith(SANDBOX_STAFF):
        return city.staff_member(sender.removeprefix(SANDBOX_STAFF))
    return None


def explain(ctx: Context, error: DeskError) -> str:
    broadcast_id = ctx.args.partition(" ")[0].lstrip("#")[:12]
    if error.problem is DeskProblem.UNKNOWN:
        return ctx.t("staff_unknown_broadcast", id=broadcast_id)
    if error.problem is DeskProblem.NOT_AUTHOR:
        return ctx.t("staff_not_author", id=broadcast_id)
    if error.problem is DeskProblem.WRONG_STATE and error.state is not None:
        return ctx.t(
            "staff_wrong_state",
            id=broadcast_id,
            state=words.state_word(ctx.services.texts, ctx.language, error.state),
        )
    if error.problem is DeskProblem.TOO_LATE:
        return ctx.t("staff_too_late", id=broadcast_id, days=ctx.city.correction_days)
    if error.problem is DeskProblem.NOT_SENT:
        return ctx.t("staff_not_sent", id=broadcast_id)
    if error.problem is DeskProblem.NOT_AMENDABLE:
        return ctx.t("staff_not_amendable", id=broadcast_id)
    if error.problem in (DeskProblem.STALE, DeskProblem.UNCONFIRMED):
        return ctx.t("staff_version_changed", id=broadcast_id, version="–")
    topics = words.topic_names(ctx.services.texts, ctx.language, ctx.city, error.topics) or "–"
    match error.refusal:
        case Refusal.OWN_BROADCAST:
            return ctx.t("staff_refused_own", id=broadcast_id)
        case Refusal.NOT_APPROVER:
            return ctx.t("staff_refused_not_approver", id=broadcast_id, topics=topics)
        case Refusal.NOT_ALERT:
            return ctx.t("staff_refused_not_alert", topics=topics)
        case Refusal.NOT_EDITOR | None:
            return ctx.t("staff_refused_not_editor", topics=topics)
        case _:
            return ctx.t(f"staff_refused_{error.refusal.value}", id=broadcast_id, topics=topics)


def to_staff(ctx: Context, staff_id: str, text: str) -> list[Reply]:
    """A message to every chat of a staff member (an author told of an approval, say)."""
    member = ctx.city.staff_member(staff_id)
    return [Reply(text, to=target) for target in chats(member)] if member else []


def chats(member: StaffMember) -> list[Resident]:
    """Where a staff member is reached: their private chats on each messenger they use."""
    chats = []
    if member.telegram_id is not None:
        chats.append(Resident(Channel.TELEGRAM, str(member.telegram_id)))
    if member.whatsapp is not None:
        chats.append(Resident(Channel.WHATSAPP, member.whatsapp))
    return chats


def notice(ctx: Context, to: StaffMember | None, key: str, **values: object) -> str:
    """A message to another staff member, in the language the city file gives them (German by default)."""
    return ctx.services.texts(to.language if to else "de", key, **values)


def staff_name(ctx: Context, staff_id: str) -> str:
    member = ctx.city.staff_member(staff_id)
    return member.name if member else staff_id


def local_time(ctx: Context, moment: datetime) -> str:
    return words.local_time(moment, ctx.city.tz)


def released(ctx: Context, broadcast: Broadcast, to: StaffMember | None = None) -> Reply:
    """What happens now to an approved broadcast, for the one who acts or another staff member `to`: out
    at once, after the quiet hours, or at its time. News held for the quiet hours comes with "Trotzdem
    jetzt senden", bound to the approved version, and its typed twin."""
    texts = ctx.services.texts
    language = to.language if to is not None else ctx.language

    def t(key: str, **values: object) -> str:
        return texts(language, key, **values)

    if broadcast.state is State.HELD and broadcast.scheduled_for is not None:
        quiet = ctx.city.quiet_hours
        name = "freigeben" if language == "de" else "approve"
        text = t(
            "staff_held_quiet",
            id=broadcast.id,
            when=local_time(ctx, broadcast.scheduled_for),
            start=f"{quiet.start:%H:%M}",
            end=f"{quiet.end:%H:%M}",
            # A notice may reach another messenger than this one; the slash form works on every one.
            command=ctx.typed(name) if to is None else f"/{name}",
        )
        buttons = ((Button(t("button_send_anyway"), f"/freigeben {broadcast.id} {short(broadcast.version)}"),
                    Button(t("button_cancel"), f"/abbrechen {broadcast.id}")),)  # fmt: skip
        return Reply(text, buttons=buttons)
    if broadcast.state is State.SCHEDULED and broadcast.scheduled_for is not None:
        return Reply(t("staff_goes_out_at", id=broadcast.id, when=local_time(ctx, broadcast.scheduled_for)))
    return Reply(t("staff_approved", id=broadcast.id))


def describe_state(ctx: Context, broadcast: Broadcast) -> str:
    """The state as staff read it, with what a held or scheduled broadcast waits for."""
    return words.describe_state(ctx.services.texts, ctx.language, broadcast, ctx.city.tz)
