"""What the desk tells staff without being asked (an expired draft, an overdue alert), as chat messages.

The desk returns its notices as values (broadcasts/desk.py, `Desk.upkeep`); the service delivers what is
built here.
"""

from __future__ import annotations

from datetime import datetime

from broadcasts.notice import Notice
from broadcasts.version import short
from broadcasts.warning_desk import is_warnings_author
from handlers.router import Services
from handlers.staff_common import chats
from handlers.values import Button, Reply


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

    # Buttons name the version they act on, as an approval request's do (handlers/staff_requests.py).
    bound = f"{broadcast.id} {short(broadcast.version)}"
    text = t(
        notice.key,
        id=broadcast.id,
        author=author.name
        if author
        else t("warnings_author")
        if is_warnings_author(broadcast.author)
        else broadcast.author,
        minutes=minutes,
        when=when,
        version=short(broadcast.version),
    )
    buttons: tuple[tuple[Button, ...], ...] = ()
    if notice.key in ("staff_missed_author", "staff_digest_missed"):
        buttons = ((Button(t("button_send_now"), f"/freigeben {bound}"),
                    Button(t("button_drop"), f"/abbrechen {broadcast.id}")),)  # fmt: skip
    elif notice.key == "staff_escalation":
        buttons = ((Button(t("button_approve"), f"/freigeben {bound}"),
                    Button(t("button_reject"), f"/ablehnen {bound}")),)  # fmt: skip
    return [Reply(text, buttons=buttons, to=target) for target in chats(notice.to)]
