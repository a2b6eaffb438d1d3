"""`stadtfunk feeds`: each feed of the city file with its last poll, last new item and errors."""

from __future__ import annotations

from datetime import datetime

from bot.cli.common import connected
from bot.services import DOWN_AFTER, LEASE_S
from bot.settings import Settings
from broadcasts.sources import Sources
from city.config import load_city
from handlers.staff_feeds import source_id


async def show_feeds(settings: Settings) -> int:
    city = load_city(settings.city_config)
    if not city.feeds:
        print(f"{settings.city_config}: no feeds (section feeds:)")
        return 0
    async with connected(settings) as storage:
        sources = Sources(storage.redis, storage.keys, down_after=DOWN_AFTER, lease_s=LEASE_S)
        for feed in city.feeds:
            status = await sources.status(source_id(feed))
            health = "DOWN" if status.down else "failing" if status.failures else "ok"
            print(
                f"{feed.id}  {health}  mode {feed.mode}  every {feed.poll_minutes:g} min  "
                f"topics {','.join(feed.topic_ids)}"
            )
            print(f"  last poll {_when(status.last_poll)}  last good {_when(status.last_good)}  "
                  f"last new item {_when(status.last_new_item)}")  # fmt: skip
            if status.failures:
                print(f"  {status.failures} failures in a row, last: {status.error}")
            print(f"  {feed.url}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"
