"""What staff can look at: open items, progress and aggregate statistics."""

from __future__ import annotations

import asyncio
import math

from broadcasts.model import Broadcast, State
from city.config import StaffMember
from handlers import words
from handlers.charts import FILENAME, MIME_TYPE, render_chart
from handlers.router import Context, Router
from handlers.staff_common import acting, describe_state, staff_name, staff_only
from handlers.values import Attachment, Reply
from handlers.words import duration, number

router = Router()


@router.command("offen", "pending")
@staff_only
async def pending(ctx: Context, member: StaffMember) -> list[Reply]:
    """Open drafts, broadcasts awaiting approval or their time, and unchecked alerts."""
    items = await ctx.services.desk.open_items(acting(ctx, member))
    if not items:
        return [Reply(ctx.t("staff_pending_none"))]
    lines = [ctx.t("staff_pending_header")]
    for broadcast in items:
        state = describe_state(ctx, broadcast)
        lines.append(
            ctx.t(
                "staff_pending_line",
                id=broadcast.id,
                state=state,
                topics=_topic_names(ctx, broadcast),
                author=staff_name(ctx, broadcast.author),
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
    return [Reply("\n".join([await _status_line(ctx, one) for one in ids]))]


async def _status_line(ctx: Context, broadcast_id: str) -> str:
    """Figures only once a broadcast is on its way, time left only while it goes out: a held one waits
    for the quiet hours, a finished one has nothing left."""
    desk = ctx.services.desk
    broadcast = await desk.get(broadcast_id)
    state = describe_state(ctx, broadcast)
    if broadcast.state not in words.UNDER_WAY | words.FINISHED:
        return ctx.t("staff_status_waiting", id=broadcast.id, state=state)
    progress = await desk.progress(broadcast.id)
    figures = {
        "id": broadcast.id,
        "state": state,
        "sent": number(progress.sent, ctx.language),
        "total": number(progress.total, ctx.language),
        "percent": math.floor(100 * progress.settled / max(progress.total, 1)),
        "failed": number(sum(c.failed for c in progress.channels.values()), ctx.language),
        "blocked": number(sum(c.blocked for c in progress.channels.values()), ctx.language),
        "retired": number(sum(c.retired for c in progress.channels.values()), ctx.language),
    }
    if broadcast.state in words.FINISHED:
        return ctx.t("staff_status_finished", **figures)
    if broadcast.state is State.PAUSED:
        return ctx.t("staff_status_paused", **figures)
    return ctx.t("staff_status", eta=duration(progress.eta_seconds(ctx.services.limits)), **figures)


@router.command("statistik", "stats")
@staff_only
async def statistics(ctx: Context, member: StaffMember) -> list[Reply]:
    """Subscribers per topic and channel with their change, and the last week's sending, as totals;
    with them the 30 days' chart as an image."""
    snapshot = await ctx.services.statistics()
    lines = [ctx.t("staff_stats_header")]
    for (topic_id, channel), count in snapshot.subscribers.items():
        topic = ctx.city.topic(topic_id)
        lines.append(
            ctx.t(
                "staff_stats_topic",
                topic=topic.name.get(ctx.language) if topic else topic_id,
                count=number(count, ctx.language),
                channel=words.messenger_name(channel),
                change7=f"{snapshot.change_7.get((topic_id, channel), 0):+d}",
                change30=f"{snapshot.change_30.get((topic_id, channel), 0):+d}",
            )
        )
    lines += ["", ctx.t("staff_stats_days")]
    for day in snapshot.days:
        lines.append(
            ctx.t(
                "staff_stats_day",
                day=day.day.strftime("%d.%m."),
                broadcasts=number(day.broadcasts, ctx.language),
                erased=number(day.erased, ctx.language),
                **{name: number(n, ctx.language) for name, n in day.outcomes.items()},
            )
        )
    # Drawing takes a good part of a second: in a thread, so other people's messages are not held up.
    chart = await asyncio.to_thread(
        render_chart, snapshot.history, ctx.city, ctx.services.texts, ctx.language
    )
    return [Reply("\n".join(lines), attachment=Attachment(FILENAME, chart, MIME_TYPE))]


def _id(ctx: Context) -> str | None:
    first = ctx.args.partition(" ")[0].lstrip("#")
    return first if first.isdecimal() else None


def _topic_names(ctx: Context, broadcast: Broadcast) -> str:
    return words.topic_names(ctx.services.texts, ctx.language, ctx.city, broadcast.topics)


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
