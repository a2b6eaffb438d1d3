"""Official warnings for staff: a version waiting for approval (`send: approval`) told to the topic's
approvers, with buttons bound to that version."""

from __future__ import annotations

from broadcasts import approval
from broadcasts.model import Broadcast
from broadcasts.version import short
from handlers.router import Services
from handlers.staff_common import chats
from handlers.values import Button, Reply


def warning_request_replies(services: Services, broadcast: Broadcast, *, update: bool) -> list[Reply]:
    """Every approver of the warnings' topic sees the version as residents would read it, in German and
    English where the source gave both, and approves or rejects exactly that version."""
    city = services.city()
    versions = ("de", "en") if broadcast.text_en else ("de",)
    rendered = "\n\n".join(services.render(broadcast, language) for language in versions)
    bound = f"{broadcast.id} {short(broadcast.version)}"
    replies = []
    for approver in approval.approvers(city, broadcast):
        key = "staff_warning_update_request" if update else "staff_warning_request"
        t = services.texts
        text = t(approver.language, key, id=broadcast.id, version=short(broadcast.version))
        buttons = ((Button(t(approver.language, "button_approve"), f"/freigeben {bound}"),
                    Button(t(approver.language, "button_reject"), f"/ablehnen {bound}")),)  # fmt: skip
        replies += [Reply(f"{text}\n\n{rendered}", buttons=buttons, to=chat) for chat in chats(approver)]
    return replies
