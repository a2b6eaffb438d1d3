"""What staff can look at: open items, progress and aggregate statistics."""

from __future__ import annotations

import asyncio
import math

from broadcasts.model import Broadcast
from city.config import StaffMember
from handlers.charts import FILENAME, MIME_TYPE, render_chart
from handlers.router import Context, Router
from handlers.staff_common import acting, describe_state, duration, number, staff_name, staff_only
from handlers.values import Attachment, Reply

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
                eta=duration(progress.eta_seconds(ctx.services.limits)),
            )
        )
    return [Reply("\n".join(lines))]


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
                count=number(count),
                channel=channel.name.title(),
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
                broadcasts=day.broadcasts,
                erased=day.erased,
                **day.outcomes,
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
    if broadcast.all_topics:
        return "alle" if ctx.language != "en" else "all"
    return ", ".join(t.name.get(ctx.language) for t in ctx.city.topics if t.id in broadcast.topics)


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
