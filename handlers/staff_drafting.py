"""What staff write from the chat: news, alerts and scheduled news; then edit, test, discard or submit it.

Every action goes through the desk (broadcasts/desk.py), which checks the four-eyes rules and audits it;
approving and what follows is handlers/staff_decisions.py.
"""

from __future__ import annotations

from datetime import datetime

from broadcasts.calendar import Recurrence
from broadcasts.desk_values import Submitted
from broadcasts.model import ALL_TOPICS, Broadcast, Priority, State
from city.config import StaffMember
from handlers import words
from handlers.matching import find_topic, normalize
from handlers.router import Context, Router
from handlers.staff_common import (
    acting,
    local_time,
    on_broadcast,
    released,
    staff_member,
    staff_only,
)
from handlers.staff_preview import preview
from handlers.staff_requests import approval_requests, review_requests, voided
from handlers.values import Reply
from handlers.when import Repeating, parse_repeating, parse_when

router = Router()


ALL_WORDS = frozenset({"alle", "all"})


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
    return await preview(ctx, created) if isinstance(created, Broadcast) else created


@router.command("eilmeldung", "alert")
@staff_only
async def alert(ctx: Context, member: StaffMember) -> list[Reply]:
    """An urgent alert: submitted at once, sent at once where the city allows break-glass alerts."""
    created = await _draft(ctx, member, Priority.ALERT, "staff_alert_usage")
    if not isinstance(created, Broadcast):
        return created
    return [*await preview(ctx, created, actions=False), *await _submit(ctx, member, created.id)]


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
    return [Reply(ctx.t("staff_scheduled_for", when=shown)), *await preview(ctx, created)]


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
        "staff_scheduled_repeating",
        rule=words.rule_text(ctx.services.texts, ctx.language, repeating.rule),
        when=local_time(ctx, first),
    )
    return [Reply(text), *await preview(ctx, created)]


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
        waiting = await ctx.services.desk.expect_edit(acting(ctx, member), broadcast_id)
        return [Reply(ctx.t("staff_send_new_text", id=waiting.id))]
    result = await ctx.services.desk.edit(acting(ctx, member), broadcast_id, text_de, text_en)
    edited = result.broadcast
    return [
        Reply(ctx.t("staff_edited", id=edited.id)),
        *await preview(ctx, edited),
        *voided(ctx, edited, result.replaced, result.was),
    ]


@router.command("verwerfen", "discard")
@staff_only
@on_broadcast
async def discard(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Discards a draft."""
    discarded = await ctx.services.desk.cancel(acting(ctx, member), broadcast_id)
    return [Reply(ctx.t("staff_discarded", id=discarded.id), replace=ctx.inbound.is_button)]


@router.command("probe", "test")
@staff_only
@on_broadcast
async def send_test(ctx: Context, member: StaffMember, broadcast_id: str, _: str) -> list[Reply]:
    """Sends the broadcast to oneself, exactly as recipients will get it; for its author and staff of its
    topics only (a draft can be confidential until it is out)."""
    broadcast = await ctx.services.desk.readable(acting(ctx, member), broadcast_id)
    return [
        Reply(ctx.t("staff_test_sent", id=broadcast.id)),
        Reply(ctx.services.render(broadcast, ctx.language)),
    ]


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
            names = ", ".join(f"{t.name.get(ctx.language)} ({t.id})" for t in ctx.city.topics)
            return [Reply(ctx.t("staff_unknown_topic", query=topic_word[:40], topics=names))]
        topics = (topic.id,)
    if not text_de:
        return [Reply(ctx.t("staff_empty_text"))]
    return await ctx.services.desk.draft(
        acting(ctx, member),
        topics=topics,
        text_de=text_de,
        text_en=text_en,
        priority=priority,
        scheduled_for=scheduled_for,
        recurrence=recurrence,
    )


async def _submit(ctx: Context, member: StaffMember, broadcast_id: str) -> list[Reply]:
    return answer_submitted(ctx, member, await ctx.services.desk.submit(acting(ctx, member), broadcast_id))


def answer_submitted(ctx: Context, member: StaffMember, submitted: Submitted) -> list[Reply]:
    """What the author reads after submitting, and the requests to approvers (or to check an alert)."""
    broadcast = submitted.broadcast
    others = [a for a in submitted.approvers if a.id != member.id]
    names = ", ".join(a.name for a in others)
    if broadcast.needs_review:
        replies = [Reply(ctx.t("staff_break_glass", id=broadcast.id, names=names or "–"))]
        return [*replies, *review_requests(ctx, member, broadcast)]
    if broadcast.state in (State.SCHEDULED, State.HELD):
        outcome = released(ctx, broadcast)
        return [Reply(outcome.text, buttons=outcome.buttons, replace=ctx.inbound.is_button)]
    if broadcast.state is not State.PENDING_APPROVAL:
        return [Reply(ctx.t("staff_sent_without_approval", id=broadcast.id), replace=ctx.inbound.is_button)]
    if not others:
        return [Reply(ctx.t("staff_no_approver", id=broadcast.id))]
    answer = Reply(ctx.t("staff_submitted", id=broadcast.id, names=names), replace=ctx.inbound.is_button)
    # Approvers see every language version they are approving, bound to this version.
    return [answer, *approval_requests(ctx, member, broadcast)]


def split_languages(text: str) -> tuple[str, str | None]:
    """German text, then optionally a line starting with "EN:" and the English version."""
    lines = text.strip().split("\n")
    for index, line in enumerate(lines):
        if line.strip().upper().startswith("EN:"):
            english = "\n".join([line.strip()[3:].strip(), *lines[index + 1 :]]).strip()
            return "\n".join(lines[:index]).strip(), english or None
    return text.strip(), None
