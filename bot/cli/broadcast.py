"""`stadtfunk broadcast --as <staff> --topic ... --text ...`: the desk's four-eyes rules from a terminal.

The command acts as the named staff member, with exactly their rights, and says so: it drafts and
submits, so a topic that needs approval waits for a second person in the chat (/offen, /freigeben), and
one that needs none goes out at once through the running service's senders (this process only plans
the audience into the queue). The audit log records it as coming from the command line (via=cli) and
names the operating system's user who ran it.
"""

from __future__ import annotations

import sys

import aiohttp

from bot.assembly import audit_log, build_editorial, build_engine, default_worker_name, residents_for
from bot.channels import build_channels
from bot.cli.common import CommandError, connected, os_user
from bot.control import Announcement, ControlChannel
from bot.settings import Settings
from bot.storage.client import check_hasher
from bot.storage.idhash import hasher_for
from broadcasts.approval import Refusal
from broadcasts.audit import Via
from broadcasts.desk_values import Actor, DeskError
from broadcasts.model import ALL_TOPICS, Priority
from city.config import City, load_city
from city.values import system_clock
from handlers.texts import Texts
from handlers.words import describe_state

REFUSALS = {
    Refusal.NOT_EDITOR: "is not an editor for",
    Refusal.NOT_ALERT: "may not send alerts for",
    Refusal.NOT_APPROVER: "is not an approver for",
    Refusal.OWN_BROADCAST: "may not approve their own broadcast",
    Refusal.AUTHOR_LACKS_ROLE: "no longer holds the role for",
    Refusal.APPROVER_LACKS_ROLE: "was approved by someone who no longer may, for",
    Refusal.NEEDS_APPROVAL: "needs approval now:",
    Refusal.APPROVER_PAUSED: "was paused by an approver; only an approver may resume it:",
    Refusal.NOT_APPROVED: "is not the approved version:",
}


async def broadcast(
    settings: Settings,
    *,
    sandbox: bool,
    staff_id: str,
    topic: str,
    text: str,
    text_en: str | None,
    alert: bool,
) -> int:
    city = load_city(settings.city_config)
    member = city.staff_member(staff_id)
    if member is None:
        known = ", ".join(m.id for m in city.staff)
        raise CommandError(f"--as {staff_id!r}: no such staff member in {settings.city_config} ({known})")
    topics = _topics(city, topic, alert)
    if not text.strip():
        raise CommandError("--text is empty")
    actor = Actor(member, Via.CLI, os_user())
    print(
        f"acting as {member.id} ({member.name}) with their rights; the audit log records it as from the "
        f"command line, run by {actor.os_user}",
        file=sys.stderr,
    )
    async with aiohttp.ClientSession() as session, connected(settings) as storage:
        hasher = hasher_for(settings)
        await check_hasher(storage, hasher)
        residents = residents_for(storage, city.tz, hasher)
        # The channels the running service sends on; only their names and limits are used here.
        channels = build_channels(
            settings, session=session, storage=storage, hasher=hasher, city=lambda: city,
            clock=system_clock, sandbox=sandbox,
        ).pairs()  # fmt: skip
        if not channels:
            raise CommandError(
                "no messenger is configured: set TELEGRAM_BOT_TOKEN or the WHATSAPP_* variables as the "
                "service has them, or add --sandbox to broadcast in the sandbox"
            )
        engine = build_engine(
            storage=storage,
            city=lambda: city,
            channels=channels,
            care=residents,
            hasher=hasher,
            worker=f"cli-{default_worker_name()}",
            clock=system_clock,
        )
        desk = build_editorial(
            redis=storage.redis,
            keys=storage.keys,
            engine=engine,
            city=lambda: city,
            residents=residents,
            clock=system_clock,
            audit=audit_log(storage, settings),
            # The running services' timers re-arm when this schedules anything (quiet hours).
            on_schedule=lambda: ControlChannel(storage.redis, storage.keys).announce(
                Announcement.SCHEDULE_CHANGED
            ),
        ).desk
        try:
            draft = await desk.draft(
                actor,
                topics=topics,
                text_de=text.strip(),
                text_en=(text_en or "").strip() or None,
                priority=Priority.ALERT if alert else Priority.NEWS,
            )
            submitted = await desk.submit(actor, draft.id)
        except DeskError as error:
            raise CommandError(_refusal(member.id, error)) from None
        # Plan the audience before exiting; the running service's senders deliver.
        await engine.settle_planning()
    sent = submitted.broadcast
    if submitted.approvers and not sent.needs_review:
        names = ", ".join(m.name for m in submitted.approvers)
        print(f"broadcast {sent.id}: waiting for approval by one of: {names} (they see it under /offen)")
    else:
        state = describe_state(Texts.load(), "en", sent, city.tz)
        print(f"broadcast {sent.id}: {state}; follow it with `stadtfunk status {sent.id}`")
    return 0


def _refusal(staff_id: str, error: DeskError) -> str:
    if error.refusal is None:
        return f"{staff_id}: the desk refused ({error.problem.value})"
    scope = ", ".join(error.topics) if error.refusal is not Refusal.OWN_BROADCAST else ""
    return f"{staff_id} {REFUSALS[error.refusal]} {scope}".rstrip()


def _topics(city: City, topic: str, alert: bool) -> tuple[str, ...]:
    wanted = topic.strip().lower()
    if wanted == ALL_TOPICS and alert:
        return (ALL_TOPICS,)
    if city.topic(wanted) is None:
        known = ", ".join(t.id for t in city.topics)
        raise CommandError(f"--topic {topic!r}: no such topic in the city file ({known})")
    return (wanted,)
