"""Staff /hilfe: exactly the desk commands a person's roles allow, with the topics they hold them for.

The rules mirror broadcasts/approval.py and `Desk._stoppable`: editors draft, alerters send alerts,
approvers decide, any of the three may hold or stop a broadcast of their topics, admins may do everything,
and every staff member may look at the open items, a broadcast's status and the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from city.config import City, Role, StaffMember
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


Text = Callable[..., str]  # a catalog key and its values -> the text in the reader's language


def staff_help(ctx: Context, member: StaffMember) -> Reply:
    """The desk commands this staff member may use, grouped by role, each group with its topics."""
    return Reply("\n".join(help_lines(member, ctx.city, ctx.t, ctx.language, ctx.inbound.channel)))


def help_lines(member: StaffMember, city: City, t: Text, language: str, channel: Channel) -> list[str]:
    """Staff /hilfe line by line; the sandbox page shows the same lines as its cheat-sheet."""
    lines = [t("staff_help_intro")]
    if "admin" in member.roles:
        lines += ["", t("staff_help_admin")]
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
        lines += ["", t(f"staff_help_role_{role}", topics=_topics(city, t, language, scope))]
        lines += [_line(t, language, channel, command) for command in commands]
    if stop_everywhere or stoppable:
        scope_stop: Scope = "all" if stop_everywhere else frozenset(stoppable)
        lines += ["", t("staff_help_stopping", topics=_topics(city, t, language, scope_stop))]
        lines += [_line(t, language, channel, command) for command in STOPPING]
    lines += ["", t("staff_help_overview")]
    lines += [_line(t, language, channel, command) for command in EVERY_STAFF_MEMBER]
    return lines


def _line(t: Text, language: str, channel: Channel, command: tuple[str, str]) -> str:
    german, english = command
    name = german if language == "de" else english
    # WhatsApp has no slash commands: there the word itself is the command (handlers/conversation.py).
    typed = name.upper() if channel is Channel.WHATSAPP else f"/{name}"
    return t(f"staff_help_{german}", command=typed)


def _topics(city: City, t: Text, language: str, scope: Scope) -> str:
    if scope == "all":
        return t("staff_help_all_topics")
    return ", ".join(topic.name.get(language) for topic in city.topics if topic.id in scope)


def role_summary(member: StaffMember, city: City, t: Text, language: str) -> list[str]:
    """Each role with its topics, in /hilfe's words ("Freigeben – Verkehr"): how the sandbox page
    introduces a staff member."""
    if "admin" in member.roles:
        return [t("staff_help_admin").rstrip(".")]
    return [
        t(f"staff_help_role_{role}", topics=_topics(city, t, language, scope)).rstrip(":")
        for role, _ in ROLE_COMMANDS
        if (scope := member.topics_for(role))
    ]
