"""How often a resident hears from the city: every item at once, or one digest a day; and what a new
subscriber sees first (the topic's latest items)."""

from __future__ import annotations

from city.config import Topic
from city.values import ResidentRecord
from handlers.consent import consent_prompt
from handlers.matching import normalize
from handlers.router import Context, Router
from handlers.values import Button, Reply

router = Router()

NOW = frozenset({"sofort", "now", "instant", "immediately"})
DAILY = frozenset({"taeglich", "täglich", "daily", "digest"})
LATEST_COUNT = 3


def delivery_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    digest_time = f"{ctx.city.digest_time:%H:%M}"
    return (
        (
            Button(ctx.t("button_delivery_now"), "/zustellung sofort"),
            Button(ctx.t("button_delivery_daily", time=digest_time), "/zustellung taeglich"),
        ),
    )


def mode_text(ctx: Context, record: ResidentRecord) -> str:
    if record.daily:
        return ctx.t("delivery_daily", time=f"{ctx.city.digest_time:%H:%M}")
    return ctx.t("delivery_now")


@router.command("zustellung", "delivery")
async def delivery(ctx: Context) -> list[Reply]:
    """Shows or switches the delivery mode; alerts always arrive at once."""
    if ctx.record is None:
        return consent_prompt(ctx, greeting=False)
    record = ctx.record
    digest_time = f"{ctx.city.digest_time:%H:%M}"
    choice = normalize(ctx.args)
    if choice not in NOW | DAILY:
        quiet = ctx.city.quiet_hours
        text = ctx.t(
            "delivery_current",
            mode=mode_text(ctx, record),
            start=f"{quiet.start:%H:%M}",
            end=f"{quiet.end:%H:%M}",
        )
        return [Reply(text, buttons=delivery_buttons(ctx))]
    daily = choice in DAILY
    if daily == record.daily:
        key = "delivery_already_daily" if daily else "delivery_already_now"
        return [Reply(ctx.t(key, time=digest_time))]
    if daily:
        await ctx.services.residents.set_daily(record, True, ctx.services.clock())
        return [Reply(ctx.t("delivery_set_daily", time=digest_time), replace=ctx.inbound.is_button)]
    # Items published since the last digest would otherwise reach this resident never: they come now.
    catch_up = await ctx.services.pending_digest(record)
    await ctx.services.residents.set_daily(record, False, ctx.services.clock())
    replies = [Reply(ctx.t("delivery_set_now"), replace=ctx.inbound.is_button)]
    return replies + [Reply(part) for part in catch_up]


async def latest_items(ctx: Context, topic: Topic) -> list[Reply]:
    """The topic's last three items, so that a new subscriber is not left waiting for the next one."""
    items = await ctx.services.recent_items(topic.id, LATEST_COUNT)
    if not items:
        return []
    lines = [ctx.t("latest_items", topic=topic.name.get(ctx.language))]
    for item in items:
        at = item.published_at.astimezone(ctx.city.tz).strftime("%d.%m. %H:%M")
        lines.append(f"\n• {at}\n{ctx.services.render(item.broadcast, ctx.language)}")
    return [Reply("\n".join(lines))]
