"""Staff /hilfe: exactly the desk commands a person's roles allow, with the topics they hold them for.

The rules mirror broadcasts/approval.py and `Desk._stoppable`: editors draft, alerters send alerts,
approvers decide, any of the three may hold or stop a broadcast of their topics, admins may do everything,
and every staff member may look at the open items, a broadcast's status and the figures.
"""

from __future__ import annotations

from typing import Literal

from city.config import Role, StaffMember
from city.values import Channel
from handlers.router import Context
from handlers.values import Reply

# Each role's commands as (German name, English alias); the catalogs hold one line per German name.
ROLE_COMMANDS: tuple[tuple[Role, tuple[tuple[str, str], ...]], ...] = (
    (
        "editor",
        (
            ("meldung", "news"),
            ("planen", "schedule"),
            ("einreichen", "submit"),
            ("aendern", "edit"),
            ("probe", "test"),
            ("verwerfen", "discard"),
            ("korrektur", "correct"),
            ("widerruf", "retract"),
        ),
    ),
    ("alert", (("eilmeldung", "alert"), ("korrektur", "correct"), ("widerruf", "retract"))),
    ("approver", (("freigeben", "approve"), ("ablehnen", "reject"), ("geprueft", "reviewed"))),
)
STOPPING = (("anhalten", "pause"), ("fortsetzen", "resume"), ("abbrechen", "cancel"))
EVERY_STAFF_MEMBER = (("offen", "pending"), ("status", "status"), ("statistik", "stats"))

Scope = Literal["all"] | frozenset[str]


def staff_help(ctx: Context, member: StaffMember) -> Reply:
    """The desk commands this staff member may use, grouped by role, each group with its topics."""
    lines = [ctx.t("staff_help_intro")]
    if "admin" in member.roles:
        lines += ["", ctx.t("staff_help_admin")]
    stoppable: set[str] = set()
    stop_everywhere = False
    for role, commands in ROLE_COMMANDS:
        scope = member.topics_for(role)
        if not scope:
            continue
        if scope == "all":
            stop_everywhere = True
        else:
            stoppable |= scope
        lines += ["", ctx.t(f"staff_help_role_{role}", topics=_topics(ctx, scope))]
        lines += [_line(ctx, command) for command in commands]
    if stop_everywhere or stoppable:
        scope_stop: Scope = "all" if stop_everywhere else frozenset(stoppable)
        lines += ["", ctx.t("staff_help_stopping", topics=_topics(ctx, scope_stop))]
        lines += [_line(ctx, command) for command in STOPPING]
    lines += ["", ctx.t("staff_help_overview")]
    lines += [_line(ctx, command) for command in EVERY_STAFF_MEMBER]
    return Reply("\n".join(lines))


def _line(ctx: Context, command: tuple[str, str]) -> str:
    german, english = command
    name = german if ctx.language == "de" else english
    # WhatsApp has no slash commands: there the word itself is the command (handlers/conversation.py).
    typed = name.upper() if ctx.inbound.channel is Channel.WHATSAPP else f"/{name}"
    return ctx.t(f"staff_help_{german}", command=typed)


def _topics(ctx: Context, scope: Scope) -> str:
    if scope == "all":
        return ctx.t("staff_help_all_topics")
    return ", ".join(topic.name.get(ctx.language) for topic in ctx.city.topics if topic.id in scope)
