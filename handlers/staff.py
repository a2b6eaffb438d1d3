"""What staff can do from the chat: draft, schedule, submit, change, approve, reject, alert, cancel.

Every action goes through the desk (broadcasts/desk.py), which checks the four-eyes rules and audits it.
"""

from __future__ import annotations

import math
from datetime import datetime

from broadcasts.calendar import Recurrence
from broadcasts.desk import Notice
from broadcasts.model import ALL_TOPICS, Broadcast, Priority, State
from city.config import StaffMember
from handlers.matching import find_topic, normalize
from handlers.router import Context, Router, Services
from handlers.staff_common import (
    chats,
    duration,
    local_time,
    number,
    on_broadcast,
    rule_text,
    staff_member,
    staff_name,
    staff_only,
    to_staff,
)
from handlers.values import Button, Reply
from handlers.when import Repeating, parse_repeating, parse_when

router = Router()


ALL_WORDS = frozenset({"alle", "all"})

# Telegram's limit for one message (https://core.telegram.org/bots/api#sendmessage); longer texts are split.
LONGEST_MESSAGE = 4096


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
    if (repeating := parse_repeating(ctx.args)) is not None:
        return await _schedule_repeating(ctx, member, repeating)
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


async def _schedule_repeating(ctx: Context, member: StaffMember, repeating: Repeating) -> list[Reply]:
    """News that repeats daily or weekly until cancelled; the series is approved once."""
    first = repeating.rule.next_after(ctx.services.clock(), ctx.city.tz)
    created = await _draft(
        ctx,
        member,
        Priority.NEWS,
        "staff_news_usage",
        args=repeating.rest,
        scheduled_for=first,
        recurrence=repeating.rule,
    )
    if not isinstance(created, Broadcast):
        return created
    text = ctx.t(
        "staff_scheduled_repeating", rule=rule_text(ctx, repeating.rule), when=local_time(ctx, first)
    )
    return [Reply(text), *await _preview(ctx, created)]


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
    """Approves someone else's broadcast, which then goes out (four-eyes principle); sends a held one."""
    before = await ctx.services.desk.get(broadcast_id)
    approved = await ctx.services.desk.approve(member, broadcast_id)
    if before.state is State.HELD:
        return [Reply(ctx.t("staff_held_sent", id=approved.id), replace=ctx.inbound.is_button)]
    author = ctx.city.staff_member(approved.author)
    what = _released(ctx, approved, author.language if author else None)
    text = notice(ctx, author, "staff_approved_author", id=approved.id, approver=member.name, what=what)
    return [
        Reply(_released(ctx, approved), replace=ctx.inbound.is_button),
        *to_staff(ctx, approved.author, text),
    ]


def _released(ctx: Context, broadcast: Broadcast, language: str | None = None) -> str:
    """What happens now to an approved broadcast: out at once, after the quiet hours, or at its time."""

    def t(key: str, **values: object) -> str:
        return ctx.services.texts(language or ctx.language, key, **values)

    if broadcast.state is State.HELD and broadcast.scheduled_for is not None:
        return t("staff_held_quiet", id=broadcast.id, when=local_time(ctx, broadcast.scheduled_for))
    if broadcast.state is State.SCHEDULED and broadcast.scheduled_for is not None:
        return t("staff_goes_out_at", id=broadcast.id, when=local_time(ctx, broadcast.scheduled_for))
    return t("staff_approved", id=broadcast.id)


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


async def _draft(
    ctx: Context,
    member: StaffMember,
    priority: Priority,
    usage: str,
    *,
    args: str | None = None,
    scheduled_for: datetime | None = None,
    recurrence: Recurrence | None = None,
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
        recurrence=recurrence,
    )


async def _submit(ctx: Context, member: StaffMember, broadcast_id: str) -> list[Reply]:
    submitted = await ctx.services.desk.submit(member, broadcast_id)
    broadcast = submitted.broadcast
    others = [a for a in submitted.approvers if a.id != member.id]
    names = ", ".join(a.name for a in others)
    if broadcast.needs_review:
        replies = [Reply(ctx.t("staff_break_glass", id=broadcast.id, names=names or "–"))]
        for approver in others:
            text = notice(ctx, approver, "staff_review_request", id=broadcast.id, author=member.name)
            replies += [Reply(text, to=target) for target in chats(approver)]
        return replies
    if broadcast.state in (State.SCHEDULED, State.HELD):
        return [Reply(_released(ctx, broadcast), replace=ctx.inbound.is_button)]
    if broadcast.state is not State.PENDING_APPROVAL:
        return [Reply(ctx.t("staff_sent_without_approval", id=broadcast.id), replace=ctx.inbound.is_button)]
    if not others:
        return [Reply(ctx.t("staff_no_approver", id=broadcast.id))]
    replies = [Reply(ctx.t("staff_submitted", id=broadcast.id, names=names), replace=ctx.inbound.is_button)]
    # Approvers see every language version they are approving.
    versions = ("de", "en") if broadcast.text_en else ("de",)
    preview = "\n\n".join(ctx.services.render(broadcast, language) for language in versions)
    for approver in others:
        approve, reject = (notice(ctx, approver, key) for key in ("button_approve", "button_reject"))
        buttons = (
            (Button(approve, f"/freigeben {broadcast.id}"), Button(reject, f"/ablehnen {broadcast.id}")),
        )
        request = notice(ctx, approver, "staff_approval_request", author=member.name, id=broadcast.id)
        replies += [
            Reply(f"{request}\n\n{preview}", buttons=buttons, to=target) for target in chats(approver)
        ]
    return replies


async def _preview(ctx: Context, broadcast: Broadcast, *, actions: bool = True) -> list[Reply]:
    """The draft exactly as recipients will see it, who and how many get it, and how long it takes."""
    desk = ctx.services.desk
    counts = await desk.audience(broadcast, tuple(ctx.services.limits))
    eta = max(
        (n / ctx.services.limits[c] for c, n in counts.items() if ctx.services.limits.get(c)), default=0.0
    )
    count_text = ", ".join(f"{number(n)} {channel.name.title()}" for channel, n in counts.items()) or "0"
    parts = [ctx.t("staff_preview", id=broadcast.id), "", ctx.services.render(broadcast, "de")]
    if broadcast.text_en:
        parts += ["", ctx.t("staff_preview_english"), ctx.services.render(broadcast, "en")]
    counter = ctx.services.templates_needed
    templates = await counter(broadcast) if counter is not None else 0
    parts += ["", ctx.t("staff_preview_audience", counts=count_text, eta=duration(eta), templates=templates)]
    parts += await _preview_timing(ctx, broadcast)
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


async def _preview_timing(ctx: Context, broadcast: Broadcast) -> list[str]:
    """News waits for the end of the quiet hours, and digest readers get it in their next digest."""
    if broadcast.priority is not Priority.NEWS:
        return []
    desk, city = ctx.services.desk, ctx.city
    lines = []
    goes_out = broadcast.scheduled_for or ctx.services.clock()
    if (until := desk.quiet_until(goes_out)) is not None:
        quiet = city.quiet_hours
        lines.append(
            ctx.t(
                "staff_preview_quiet",
                start=f"{quiet.start:%H:%M}",
                end=f"{quiet.end:%H:%M}",
                when=local_time(ctx, until),
            )
        )
    readers = await desk.digest_audience(broadcast, tuple(ctx.services.limits))
    if readers:
        lines.append(ctx.t("staff_preview_digest", count=number(readers), time=f"{city.digest_time:%H:%M}"))
    return lines


def notice(ctx: Context, to: StaffMember | None, key: str, **values: object) -> str:
    """A message to another staff member, in the language the city file gives them (German by default)."""
    return ctx.services.texts(to.language if to else "de", key, **values)


def split_languages(text: str) -> tuple[str, str | None]:
    """German text, then optionally a line starting with "EN:" and the English version."""
    lines = text.strip().split("\n")
    for index, line in enumerate(lines):
        if line.strip().upper().startswith("EN:"):
            english = "\n".join([line.strip()[3:].strip(), *lines[index + 1 :]]).strip()
            return "\n".join(lines[:index]).strip(), english or None
    return text.strip(), None


def notice_replies(services: Services, notice: Notice, now: datetime) -> list[Reply]:
    """A desk notice (an expired draft, an overdue alert) as messages to the staff member's chats."""
    city = services.city()
    broadcast = notice.broadcast
    author = city.staff_member(broadcast.author)
    minutes = int((now - broadcast.created_at).total_seconds() // 60)
    when = (
        broadcast.scheduled_for.astimezone(city.tz).strftime("%d.%m.%Y %H:%M")
        if broadcast.scheduled_for
        else ""
    )

    def t(key: str, **values: object) -> str:
        return services.texts(notice.to.language, key, **values)

    text = t(
        notice.key,
        id=broadcast.id,
        author=author.name if author else broadcast.author,
        minutes=minutes,
        when=when,
    )
    buttons: tuple[tuple[Button, ...], ...] = ()
    if notice.key in ("staff_missed_author", "staff_digest_missed"):
        buttons = ((Button(t("button_send_now"), f"/freigeben {broadcast.id}"),
                    Button(t("button_drop"), f"/abbrechen {broadcast.id}")),)  # fmt: skip
    elif notice.key == "staff_escalation":
        buttons = ((Button(t("button_approve"), f"/freigeben {broadcast.id}"),
                    Button(t("button_reject"), f"/ablehnen {broadcast.id}")),)  # fmt: skip
    return [Reply(text, buttons=buttons, to=target) for target in chats(notice.to)]
