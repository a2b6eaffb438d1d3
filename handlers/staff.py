"""What staff can do from the chat: draft, submit, approve, reject, alert, cancel, list and follow.

Staff are recognised by their messenger id in the city file. Everyone else gets the same "unknown
command" answer as for any other unknown command, so staff commands are not advertised.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from bot.city import StaffMember
from broadcasts.approval import Refusal
from broadcasts.desk import DeskError, Notice, Problem
from broadcasts.model import ALL_TOPICS, Broadcast, Priority, State
from handlers.matching import find_topic, normalize
from handlers.router import Context, Router, Services
from handlers.values import Button, Channel, Reply, Resident
from handlers.when import parse_when

router = Router()

StaffHandler = Callable[[Context, StaffMember], Awaitable[list[Reply]]]
BroadcastHandler = Callable[[Context, StaffMember, str, str], Awaitable[list[Reply]]]
ALL_WORDS = frozenset({"alle", "all"})
# Telegram's limit for one message (https://core.telegram.org/bots/api#sendmessage); longer texts are split.
LONGEST_MESSAGE = 4096


def staff_only(handler: StaffHandler) -> Callable[[Context], Awaitable[list[Reply]]]:
    @wraps(handler)
    async def checked(ctx: Context) -> list[Reply]:
        member = staff_member(ctx)
        if member is None:
            return [Reply(ctx.t("unknown"))]
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
        broadcast_id = first.lstrip("#")
        if not broadcast_id.isdecimal():
            return [Reply(ctx.t("staff_usage_id", command=ctx.command))]
        return await handler(ctx, member, broadcast_id, rest.strip())

    return with_id


async def pending_edit(ctx: Context) -> list[Reply] | None:
    """A staff member's plain message after pressing "Ändern" is the new text; None for anyone else."""
    member = staff_member(ctx)
    if member is None:
        return None
    broadcast_id = await ctx.services.desk.expected_edit(member)
    if broadcast_id is None:
        return None
    edit_with = Context(
        ctx.inbound, "aendern", f"{broadcast_id} {ctx.args}", ctx.language, ctx.record, ctx.services
    )
    return await edit(edit_with)


def staff_member(ctx: Context) -> StaffMember | None:
    city = ctx.city
    sender = ctx.inbound.sender_id
    if ctx.inbound.channel is Channel.TELEGRAM and sender.isdecimal():
        return city.staff_by_telegram(int(sender))
    if ctx.inbound.channel is Channel.WHATSAPP:
        return city.staff_by_whatsapp(sender)
    return None


@router.command("meldung", "news")
@staff_only
async def news(ctx: Context, member: StaffMember) -> list[Reply]:
    """Drafts news for a topic and shows the preview with its audience and delivery time."""
    created = await _draft(ctx, member, Priority.NEWS, "staff_news_usage")
    return await _preview(ctx, created) if isinstance(created, Broadcast) else created


@router.command("eilmeldung", "alert")
@staff_only
async def alert(ctx: Context, member: StaffMember) -> list[Reply]:
    """An urgent alert: submitted at once, sent at once where the city allows break-glass alerts."""
    created = await _draft(ctx, member, Priority.ALERT, "staff_alert_usage")
    if not isinstance(created, Broadcast):
        return created
    return [*await _preview(ctx, created, actions=False), *await _submit(ctx, member, created.id)]


@router.command("planen", "schedule")
@staff_only
async def schedule(ctx: Context, member: StaffMember) -> list[Reply]:
    """Drafts news for a later time; once approved it waits for its time, then goes out."""
    city = ctx.city
    when = parse_when(ctx.args, ctx.services.clock(), city.tz)
    if when is None:
        return [Reply(ctx.t("staff_schedule_usage", city=city.name))]
    shown = when.at.strftime("%d.%m.%Y %H:%M")
    if when.at <= ctx.services.clock():
        return [Reply(ctx.t("staff_schedule_past", when=shown))]
    created = await _draft(
        ctx, member, Priority.NEWS, "staff_news_usage", args=when.rest, scheduled_for=when.at
    )
    if not isinstance(created, Broadcast):
        return created
    return [Reply(ctx.t("staff_scheduled_for", when=shown)), *await _preview(ctx, created)]


@router.command("einreichen", "submit")
@staff_only
@on_broadcast
async def submit(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Submits a draft for approval (or sends it where no approval is needed)."""
    return await _submit(ctx, member, broadcast_id)


@router.command("aendern", "edit")
@staff_only
@on_broadcast
async def edit(ctx: Context, member: StaffMember, broadcast_id: str, text: str) -> list[Reply]:
    """Replaces the text of one's own draft (given here, or sent next); a submitted one needs approval
    again."""
    text_de, text_en = split_languages(text)
    if not text_de:
        waiting = await ctx.services.desk.expect_edit(member, broadcast_id)
        return [Reply(ctx.t("staff_send_new_text", id=waiting.id))]
    edited = await ctx.services.desk.edit(member, broadcast_id, text_de, text_en)
    return [Reply(ctx.t("staff_edited", id=edited.id)), *await _preview(ctx, edited)]


@router.command("verwerfen", "discard")
@staff_only
@on_broadcast
async def discard(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Discards a draft."""
    discarded = await ctx.services.desk.cancel(member, broadcast_id)
    return [Reply(ctx.t("staff_discarded", id=discarded.id), replace=ctx.inbound.is_button)]


@router.command("probe", "test")
@staff_only
@on_broadcast
async def send_test(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Sends the broadcast to oneself, exactly as recipients will get it."""
    broadcast = await ctx.services.desk.get(broadcast_id)
    return [
        Reply(ctx.t("staff_test_sent", id=broadcast.id)),
        Reply(ctx.services.render(broadcast, ctx.language)),
    ]


@router.command("freigeben", "approve")
@staff_only
@on_broadcast
async def approve(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Approves someone else's broadcast, which then goes out (four-eyes principle)."""
    approved = await ctx.services.desk.approve(member, broadcast_id)
    text = ctx.t("staff_approved_author", id=approved.id, approver=member.name)
    return [
        Reply(_released(ctx, approved), replace=ctx.inbound.is_button),
        *_to_staff(ctx, approved.author, text),
    ]


def _released(ctx: Context, broadcast: Broadcast) -> str:
    """What happens now to an approved broadcast: out at once, or at its time."""
    if broadcast.state is State.SCHEDULED and broadcast.scheduled_for is not None:
        when = broadcast.scheduled_for.astimezone(ctx.city.tz).strftime("%d.%m.%Y %H:%M")
        return ctx.t("staff_goes_out_at", id=broadcast.id, when=when)
    return ctx.t("staff_approved", id=broadcast.id)


@router.command("ablehnen", "reject")
@staff_only
@on_broadcast
async def reject(ctx: Context, member: StaffMember, broadcast_id: str, reason: str) -> list[Reply]:
    """Rejects someone else's broadcast, with an optional reason for the author."""
    rejected = await ctx.services.desk.reject(member, broadcast_id, reason[:500])
    text = ctx.t(
        "staff_rejected_author",
        id=rejected.id,
        approver=member.name,
        reason=reason or ctx.t("staff_no_reason"),
    )
    answer = ctx.t("staff_rejected", id=rejected.id, author=_name(ctx, rejected.author))
    return [Reply(answer, replace=ctx.inbound.is_button), *_to_staff(ctx, rejected.author, text)]


@router.command("abbrechen", "cancel")
@staff_only
@on_broadcast
async def cancel(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Withdraws a draft, a scheduled broadcast, or one that is sending."""
    cancelled = await ctx.services.desk.cancel(member, broadcast_id)
    return [Reply(ctx.t("staff_cancelled", id=cancelled.id))]


@router.command("geprueft", "reviewed")
@staff_only
@on_broadcast
async def reviewed(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Confirms a break-glass alert after the fact."""
    checked = await ctx.services.desk.review(member, broadcast_id)
    return [Reply(ctx.t("staff_reviewed", id=checked.id))]


@router.command("offen", "pending")
@staff_only
async def pending(ctx: Context, member: StaffMember) -> list[Reply]:
    """Open drafts, broadcasts awaiting approval or their time, and unchecked alerts."""
    items = await ctx.services.desk.open_items(member)
    if not items:
        return [Reply(ctx.t("staff_pending_none"))]
    lines = [ctx.t("staff_pending_header")]
    for broadcast in items:
        state = (
            ctx.t("staff_needs_review") if broadcast.needs_review else ctx.t(f"state_{broadcast.state.value}")
        )
        lines.append(
            ctx.t(
                "staff_pending_line",
                id=broadcast.id,
                state=state,
                topics=_topic_names(ctx, broadcast),
                author=_name(ctx, broadcast.author),
                text=_excerpt(broadcast.text_de),
            )
        )
    return [Reply("\n".join(lines))]


@router.command("status")
@staff_only
async def status(ctx: Context, member: StaffMember) -> list[Reply]:
    """The state and progress of one broadcast, or of all that are sending."""
    broadcast_id = _id(ctx)
    desk = ctx.services.desk
    ids = [broadcast_id] if broadcast_id else await desk.sending()
    if not ids:
        return [Reply(ctx.t("staff_status_none"))]
    lines = []
    for one in ids:
        broadcast = await desk.get(one)
        progress = await desk.progress(broadcast.id)
        total = max(progress.total, 1)
        lines.append(
            ctx.t(
                "staff_status",
                id=broadcast.id,
                state=ctx.t(f"state_{progress.state.value}"),
                sent=progress.sent,
                total=progress.total,
                percent=math.floor(100 * progress.settled / total),
                failed=sum(c.failed for c in progress.channels.values()),
                blocked=sum(c.blocked for c in progress.channels.values()),
                retired=sum(c.retired for c in progress.channels.values()),
                eta=_duration(ctx, progress.eta_seconds(ctx.services.limits)),
            )
        )
    return [Reply("\n".join(lines))]


@router.command("statistik", "stats")
@staff_only
async def statistics(ctx: Context, member: StaffMember) -> list[Reply]:
    """Subscribers per topic and channel with their change, and the last week's sending, as totals."""
    snapshot = await ctx.services.statistics()
    lines = [ctx.t("staff_stats_header")]
    for (topic_id, channel), count in snapshot.subscribers.items():
        topic = ctx.city.topic(topic_id)
        lines.append(
            ctx.t(
                "staff_stats_topic",
                topic=topic.name.get(ctx.language) if topic else topic_id,
                count=_number(count),
                channel=channel.name.title(),
                change7=f"{snapshot.change_7.get((topic_id, channel), 0):+d}",
                change30=f"{snapshot.change_30.get((topic_id, channel), 0):+d}",
            )
        )
    lines += ["", ctx.t("staff_stats_days")]
    for day in snapshot.days:
        lines.append(
            ctx.t(
                "staff_stats_day", day=day.day.strftime("%d.%m."), broadcasts=day.broadcasts, **day.outcomes
            )
        )
    return [Reply("\n".join(lines))]


async def _draft(
    ctx: Context,
    member: StaffMember,
    priority: Priority,
    usage: str,
    *,
    args: str | None = None,
    scheduled_for: datetime | None = None,
) -> Broadcast | list[Reply]:
    """The new draft, or the answer that explains why there is none."""
    topic_word, _, text = (ctx.args if args is None else args).partition(" ")
    text_de, text_en = split_languages(text)
    if not topic_word:
        return [Reply(ctx.t(usage))]
    if normalize(topic_word) in ALL_WORDS and priority is Priority.ALERT:
        topics: tuple[str, ...] = (ALL_TOPICS,)
    else:
        topic = find_topic(ctx.city, topic_word)
        if topic is None:
            names = ", ".join(t.id for t in ctx.city.topics)
            return [Reply(ctx.t("staff_unknown_topic", query=topic_word[:40], topics=names))]
        topics = (topic.id,)
    if not text_de:
        return [Reply(ctx.t("staff_empty_text"))]
    return await ctx.services.desk.draft(
        member,
        topics=topics,
        text_de=text_de,
        text_en=text_en,
        priority=priority,
        scheduled_for=scheduled_for,
    )


async def _submit(ctx: Context, member: StaffMember, broadcast_id: str) -> list[Reply]:
    submitted = await ctx.services.desk.submit(member, broadcast_id)
    broadcast = submitted.broadcast
    others = [a for a in submitted.approvers if a.id != member.id]
    names = ", ".join(a.name for a in others)
    if broadcast.needs_review:
        replies = [Reply(ctx.t("staff_break_glass", id=broadcast.id, names=names or "–"))]
        for approver in others:
            text = ctx.t("staff_review_request", id=broadcast.id, author=member.name)
            replies += [Reply(text, to=target) for target in _chats(approver)]
        return replies
    if broadcast.state is State.SCHEDULED:
        return [Reply(_released(ctx, broadcast), replace=ctx.inbound.is_button)]
    if broadcast.state is not State.PENDING_APPROVAL:
        return [Reply(ctx.t("staff_sent_without_approval", id=broadcast.id), replace=ctx.inbound.is_button)]
    if not others:
        return [Reply(ctx.t("staff_no_approver", id=broadcast.id))]
    replies = [Reply(ctx.t("staff_submitted", id=broadcast.id, names=names), replace=ctx.inbound.is_button)]
    preview = ctx.services.render(broadcast, "de")
    buttons = ((Button(ctx.t("button_approve"), f"/freigeben {broadcast.id}"),
                Button(ctx.t("button_reject"), f"/ablehnen {broadcast.id}")),)  # fmt: skip
    for approver in others:
        text = f"{ctx.t('staff_approval_request', author=member.name, id=broadcast.id)}\n\n{preview}"
        replies += [Reply(text, buttons=buttons, to=target) for target in _chats(approver)]
    return replies


async def _preview(ctx: Context, broadcast: Broadcast, *, actions: bool = True) -> list[Reply]:
    """The draft exactly as recipients will see it, who and how many get it, and how long it takes."""
    desk = ctx.services.desk
    counts = await desk.audience(broadcast, tuple(ctx.services.limits))
    eta = max(
        (n / ctx.services.limits[c] for c, n in counts.items() if ctx.services.limits.get(c)), default=0.0
    )
    count_text = ", ".join(f"{_number(n)} {channel.name.title()}" for channel, n in counts.items()) or "0"
    parts = [ctx.t("staff_preview", id=broadcast.id), "", ctx.services.render(broadcast, "de")]
    if broadcast.text_en:
        parts += ["", ctx.t("staff_preview_english"), ctx.services.render(broadcast, "en")]
    parts += ["", ctx.t("staff_preview_audience", counts=count_text, eta=_duration(ctx, eta), templates=0)]
    rendered = len(ctx.services.render(broadcast, "de"))
    if rendered > LONGEST_MESSAGE:
        parts.append(
            ctx.t("staff_preview_long", limit=LONGEST_MESSAGE, parts=math.ceil(rendered / LONGEST_MESSAGE))
        )
    if not actions:
        return [Reply("\n".join(parts))]
    parts += ["", ctx.t("staff_preview_actions", id=broadcast.id)]
    buttons = ((Button(ctx.t("button_submit"), f"/einreichen {broadcast.id}"),
                Button(ctx.t("button_edit"), f"/aendern {broadcast.id}")),
               (Button(ctx.t("button_test"), f"/probe {broadcast.id}"),
                Button(ctx.t("button_discard"), f"/verwerfen {broadcast.id}")))  # fmt: skip
    return [Reply("\n".join(parts), buttons=buttons)]


def split_languages(text: str) -> tuple[str, str | None]:
    """German text, then optionally a line starting with "EN:" and the English version."""
    lines = text.strip().split("\n")
    for index, line in enumerate(lines):
        if line.strip().upper().startswith("EN:"):
            english = "\n".join([line.strip()[3:].strip(), *lines[index + 1 :]]).strip()
            return "\n".join(lines[:index]).strip(), english or None
    return text.strip(), None


def explain(ctx: Context, error: DeskError) -> str:
    broadcast_id = ctx.args.partition(" ")[0].lstrip("#")[:12]
    if error.problem is Problem.UNKNOWN:
        return ctx.t("staff_unknown_broadcast", id=broadcast_id)
    if error.problem is Problem.NOT_AUTHOR:
        return ctx.t("staff_not_author", id=broadcast_id)
    if error.problem is Problem.WRONG_STATE and error.state is not None:
        return ctx.t("staff_wrong_state", id=broadcast_id, state=ctx.t(f"state_{error.state.value}"))
    topics = ", ".join(error.topics) or "–"
    match error.refusal:
        case Refusal.OWN_BROADCAST:
            return ctx.t("staff_refused_own", id=broadcast_id)
        case Refusal.NOT_APPROVER:
            return ctx.t("staff_refused_not_approver", id=broadcast_id, topics=topics)
        case Refusal.NOT_ALERT:
            return ctx.t("staff_refused_not_alert", topics=topics)
        case _:
            return ctx.t("staff_refused_not_editor", topics=topics)


def _id(ctx: Context) -> str | None:
    first = ctx.args.partition(" ")[0].lstrip("#")
    return first if first.isdecimal() else None


def _to_staff(ctx: Context, staff_id: str, text: str) -> list[Reply]:
    """A message to every chat of a staff member (an author told of an approval, say)."""
    member = ctx.city.staff_member(staff_id)
    return [Reply(text, to=target) for target in _chats(member)] if member else []


def _chats(member: StaffMember) -> list[Resident]:
    """Where a staff member is reached: their private chats on each messenger they use."""
    chats = []
    if member.telegram_id is not None:
        chats.append(Resident(Channel.TELEGRAM, str(member.telegram_id)))
    if member.whatsapp is not None:
        chats.append(Resident(Channel.WHATSAPP, member.whatsapp))
    return chats


def _name(ctx: Context, staff_id: str) -> str:
    member = ctx.city.staff_member(staff_id)
    return member.name if member else staff_id


def _topic_names(ctx: Context, broadcast: Broadcast) -> str:
    if broadcast.all_topics:
        return "alle" if ctx.language != "en" else "all"
    return ", ".join(t.name.get(ctx.language) for t in ctx.city.topics if t.id in broadcast.topics)


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _duration(ctx: Context, seconds: float) -> str:
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def notice_replies(services: Services, notice: Notice, now: datetime) -> list[Reply]:
    """A desk notice (an expired draft, an overdue alert) as messages to the staff member's chats."""
    city = services.city()
    broadcast = notice.broadcast
    author = city.staff_member(broadcast.author)
    minutes = int((now - broadcast.created_at).total_seconds() // 60)
    text = services.texts(
        "de", notice.key, id=broadcast.id, author=author.name if author else broadcast.author, minutes=minutes
    )
    buttons: tuple[tuple[Button, ...], ...] = ()
    if notice.key == "staff_escalation":
        buttons = ((Button(services.texts("de", "button_approve"), f"/freigeben {broadcast.id}"),
                    Button(services.texts("de", "button_reject"), f"/ablehnen {broadcast.id}")),)  # fmt: skip
    return [Reply(text, buttons=buttons, to=target) for target in _chats(notice.to)]
