"""`stadtfunk export-resident` and `erase-resident`: data-protection requests that arrive by letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.assembly import audit_log, residents_for
from bot.cli.common import CommandError, connected, os_user
from bot.settings import Settings
from bot.storage.client import Storage, check_hasher
from bot.storage.idhash import hasher_for
from bot.storage.rewrite import DiskRewrite
from broadcasts.audit import OPERATOR, Action, Entry, Via
from city.config import load_city
from city.residents import Residents
from city.values import Channel, Resident

EXIT_NOTHING_STORED = 1


async def export_resident(settings: Settings, channel: Channel, chat_id: str) -> int:
    """Everything stored about one resident, as the JSON file /meinedaten sends them."""
    city = load_city(settings.city_config)
    resident = _resident(channel, chat_id)
    async with connected(settings) as storage:
        exported = await Residents(storage.redis, storage.keys, city.tz).export(resident)
        if exported is not None:
            await _audit(storage, settings, Action.EXPORT)
    if exported is None:
        print(f"stadtfunk: nothing is stored about {channel.name.lower()} id {chat_id}")
        return EXIT_NOTHING_STORED
    print(json.dumps(exported, ensure_ascii=False, indent=2))
    return 0


async def erase_resident(settings: Settings, channel: Channel, chat_id: str) -> int:
    """What /loeschen does: the record, the topics, every audience, queued and claimed deliveries and the
    WhatsApp marks; then the append-only file's rewrite, now if the last one is old enough."""
    city = load_city(settings.city_config)
    resident = _resident(channel, chat_id)
    every = timedelta(minutes=settings.erasure_rewrite_minutes)
    async with connected(settings) as storage:
        # The service's hasher: the WhatsApp marks and the planner's dedupe are keyed with it. Read only
        # once DATA_DIR is known to hold the service's data, so that a wrong one is refused, not created.
        hasher = hasher_for(settings)
        await check_hasher(storage, hasher)
        residents = residents_for(storage, city.tz, hasher)
        stored = await residents.get(resident) is not None
        await residents.erase(resident, (topic.id for topic in city.topics))
        await _audit(storage, settings, Action.ERASURE)
        disk = DiskRewrite(storage.redis, storage.keys)
        # A server owned by this command shuts down when it ends: the rewrite must be over by then.
        rewritten = await disk.run_due(datetime.now(UTC), every) and await disk.settled()
        later = None if rewritten else await disk.next_allowed(every)
    what = "erased" if stored else "nothing was stored; made sure nothing is left"
    print(
        f"{channel.name.lower()} id {chat_id}: {what} "
        "(record, topics, audiences, queued deliveries, WhatsApp marks)"
    )
    if rewritten:
        print("the append-only file was rewritten: the erased data is off the disk")
    elif later is not None:
        print(
            f"the append-only file is rewritten at the first upkeep after {later:%Y-%m-%d %H:%M} UTC "
            "(ERASURE_REWRITE_MINUTES); until then the erased data is still in it"
        )
    return 0


async def _audit(storage: Storage, settings: Settings, action: Action) -> None:
    """Logged as done from the command line, by whom, never for which resident."""
    entry = Entry(datetime.now(UTC), OPERATOR, action, via=Via.CLI, os_user=os_user())
    await audit_log(storage, settings).record(entry)


def _resident(channel: Channel, chat_id: str) -> Resident:
    chat_id = chat_id.strip()
    if not chat_id or len(chat_id) > 64 or any(c.isspace() for c in chat_id):
        raise CommandError(f"--id must be the messenger's chat id or number, got {chat_id!r}")
    if channel is Channel.WHATSAPP:
        chat_id = chat_id.removeprefix("+").replace(" ", "")
    return Resident(channel, chat_id)
