"""A draft as staff check it before submitting: exactly as recipients will read it, who and how many get
it, how long sending takes, and whether the quiet hours or the digest delay it."""

from __future__ import annotations

import math

from broadcasts.approval import needs_approval
from broadcasts.model import Broadcast, Priority
from handlers.router import Context
from handlers.staff_common import local_time
from handlers.values import Button, Reply
from handlers.words import duration, messenger_name, number

# Telegram's limit for one message (https://core.telegram.org/bots/api#sendmessage); longer texts are split.
LONGEST_MESSAGE = 4096


async def preview(ctx: Context, broadcast: Broadcast, *, actions: bool = True) -> list[Reply]:
    """The draft exactly as recipients will see it, who and how many get it, and how long it takes."""
    desk = ctx.services.desk
    counts = await desk.audience(broadcast, tuple(ctx.services.limits))
    eta = max(
        (n / ctx.services.limits[c] for c, n in counts.items() if ctx.services.limits.get(c)), default=0.0
    )
    count_text = (
        ", ".join(f"{number(n, ctx.language)} {messenger_name(channel)}" for channel, n in counts.items())
        or "0"
    )
    parts = [ctx.t("staff_preview", id=broadcast.id), "", ctx.services.render(broadcast, "de")]
    if broadcast.text_en:
        parts += ["", ctx.t("staff_preview_english"), ctx.services.render(broadcast, "en")]
    counter = ctx.services.templates_needed
    templates = await counter(broadcast) if counter is not None else 0
    parts += ["", ctx.t("staff_preview_audience", counts=count_text, eta=duration(eta), templates=templates)]
    parts += await _timing(ctx, broadcast)
    rendered = len(ctx.services.render(broadcast, "de"))
    if rendered > LONGEST_MESSAGE:
        parts.append(
            ctx.t("staff_preview_long", limit=LONGEST_MESSAGE, parts=math.ceil(rendered / LONGEST_MESSAGE))
        )
    if not actions:
        return [Reply("\n".join(parts))]
    # Where the city switched approval off, submitting sends: the button and the text must say so.
    direct = not needs_approval(ctx.city, broadcast)
    if direct:
        alert = broadcast.priority is Priority.ALERT
        parts += ["", ctx.t("staff_preview_direct_alert" if alert else "staff_preview_direct")]
    actions_text = "staff_preview_actions_direct" if direct else "staff_preview_actions"
    parts += ["", ctx.t(actions_text, id=broadcast.id)]
    submit = ctx.t("button_submit_direct" if direct else "button_submit")
    buttons = ((Button(submit, f"/einreichen {broadcast.id}"),
                Button(ctx.t("button_edit"), f"/aendern {broadcast.id}")),
               (Button(ctx.t("button_test"), f"/probe {broadcast.id}"),
                Button(ctx.t("button_discard"), f"/verwerfen {broadcast.id}")))  # fmt: skip
    return [Reply("\n".join(parts), buttons=buttons)]


async def _timing(ctx: Context, broadcast: Broadcast) -> list[str]:
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
        lines.append(
            ctx.t(
                "staff_preview_digest", count=number(readers, ctx.language), time=f"{city.digest_time:%H:%M}"
            )
        )
    return lines
