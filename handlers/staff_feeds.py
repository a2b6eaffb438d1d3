"""Feeds for staff: a feed's new draft told to the topic's editors, and /quellen, each feed's state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from broadcasts import approval
from broadcasts.model import Broadcast
from city.config import StaffMember
from city.feeds import Feed
from handlers.router import Context, Router, Services
from handlers.staff_common import chats, local_time, staff_only
from handlers.values import Button, Reply

router = Router()

# A feed's state in Redis is kept under this source id (broadcasts/sources.py), apart from other sources.
SOURCE_PREFIX = "feed:"


def source_id(feed: Feed) -> str:
    return SOURCE_PREFIX + feed.id


def feed_draft_replies(services: Services, feed: Feed, draft: Broadcast) -> list[Reply]:
    """Every editor of the draft's topics sees it as residents would, with buttons to submit, edit or
    discard it; whoever submits or edits it becomes its author."""
    city = services.city()
    topics = approval.topics_of(city, draft.topics)
    rendered = services.render(draft, "de")
    replies = []
    for editor in city.staff:
        if approval.holds(editor, "editor", topics):
            continue
        t = _in(services, editor)
        text = f"{t('staff_feed_draft', feed=feed.id, id=draft.id)}\n\n{rendered}"
        buttons = ((Button(t("button_submit"), f"/einreichen {draft.id}"),
                    Button(t("button_edit"), f"/aendern {draft.id}")),
                   (Button(t("button_discard"), f"/verwerfen {draft.id}"),))  # fmt: skip
        replies += [Reply(text, buttons=buttons, to=chat) for chat in chats(editor)]
    return replies


def _in(services: Services, member: StaffMember) -> Callable[..., str]:
    """Texts in the language the city file gives the staff member."""
    return partial(services.texts, member.language)


@router.command("quellen", "feeds")
@staff_only
async def feeds(ctx: Context, member: StaffMember) -> list[Reply]:
    """Each feed of the city file: when it was last read, when it last brought something new, its errors."""
    sources = ctx.services.sources
    if not ctx.city.feeds or sources is None:
        return [Reply(ctx.t("staff_feeds_none"))]

    def when(moment: datetime | None) -> str:
        return local_time(ctx, moment) if moment else ctx.t("staff_feed_never")

    lines = [ctx.t("staff_feeds_title")]
    for feed in ctx.city.feeds:
        status = await sources.status(source_id(feed))
        lines.append(
            ctx.t(
                "staff_feed_status",
                feed=feed.id,
                mode=feed.mode,
                minutes=f"{feed.poll_minutes:g}",
                poll=when(status.last_poll),
                new=when(status.last_new_item),
            )
        )
        if status.failures:
            lines.append(ctx.t("staff_feed_failing", failures=status.failures, error=status.error))
    return [Reply("\n".join(lines))]
