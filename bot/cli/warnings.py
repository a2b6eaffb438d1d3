"""`stadtfunk warnings`: the city's current official warnings, and whether, when and to how many each
was relayed."""

from __future__ import annotations

from datetime import datetime

from bot.cli.common import connected
from bot.settings import Settings
from bot.warnings import DOWN_AFTER
from broadcasts.sources import Sources
from broadcasts.store import BroadcastStore
from broadcasts.warning_threads import Stage, Thread, Threads, source_id
from city.config import load_city

NOT_RELAYED = {
    Stage.QUIET: "not relayed (below min_severity, or an all-clear of nothing relayed)",
    Stage.TWIN: "not relayed: the same warning as {twin}",
}


async def show_warnings(settings: Settings) -> int:
    city = load_city(settings.city_config)
    config = city.warnings
    if config is None:
        print(f"{settings.city_config}: no official warnings (section warnings:)")
        return 0
    async with connected(settings) as storage:
        status = await Sources(storage.redis, storage.keys, down_after=DOWN_AFTER, lease_s=1).status(
            source_id(config)
        )
        health = "DOWN" if status.down else "failing" if status.failures else "ok"
        print(f"warnings for ARS {config.ars} -> topic {config.topic} ({config.send}, from "
              f"{config.min_severity}, every {config.poll_seconds:g} s): {health}, last good poll "
              f"{_when(status.last_good)}")  # fmt: skip
        if status.failures:
            print(f"  {status.failures} failures in a row, last: {status.error}")
        store = BroadcastStore(storage.redis, storage.keys)
        threads = await Threads(storage.redis, storage.keys).listed()
        if not threads:
            print("no warnings known")
        for thread in threads:
            stage = thread.stage.value if thread.stage else "?"
            print(f"{thread.warning_id}  {thread.provider}  {thread.severity}  version {thread.version}  "
                  f"{stage}  expires {_when(thread.expires)}")  # fmt: skip
            print(f"  {await _relayed(store, thread)}")
    return 0


async def _relayed(store: BroadcastStore, thread: Thread) -> str:
    if not thread.first:
        template = NOT_RELAYED.get(thread.stage or Stage.QUIET, "not relayed")
        return template.format(twin=thread.twin_of)
    recipients = []
    for broadcast_id in thread.broadcasts:
        try:
            progress = await store.progress(broadcast_id)
        except KeyError:  # its records ended with their retention
            recipients.append(f"#{broadcast_id} gone")
            continue
        recipients.append(f"#{broadcast_id} {progress.state.value}, sent to {progress.sent}")
    return f"relayed {_when(thread.relayed_at)}: " + "; ".join(recipients)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"
