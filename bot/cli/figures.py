"""`stadtfunk stats` and `stadtfunk export-subscribers --aggregate`: counts only, never a person."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

from bot.cli.common import CommandError, connected, figure_channels
from bot.settings import Settings
from city.config import load_city
from city.statistics import OUTCOMES, Snapshot, snapshot


async def _figures(settings: Settings, sandbox: bool) -> tuple[Snapshot, dict[str, str]]:
    city = load_city(settings.city_config)
    async with connected(settings) as storage:
        today = datetime.now(UTC).astimezone(city.tz).date()
        figures = await snapshot(storage.redis, storage.keys, city, today, figure_channels(sandbox))
    return figures, {topic.id: topic.name.de for topic in city.topics}


async def show_stats(settings: Settings, *, sandbox: bool) -> int:
    figures, names = await _figures(settings, sandbox)
    print("subscribers per topic and channel (change over 7 and 30 days):")
    width = max(map(len, names), default=10)
    for (topic, channel), count in figures.subscribers.items():
        change_7, change_30 = figures.change_7[(topic, channel)], figures.change_30[(topic, channel)]
        print(f"  {topic:<{width}}  {channel.name.lower():<8} {count:>8}  ({change_7:+d} / {change_30:+d})")
    print("broadcasts and deliveries per day (all channels):")
    for day in figures.days:
        outcomes = "  ".join(f"{name} {day.outcomes.get(name, 0)}" for name in OUTCOMES)
        print(f"  {day.day.isoformat()}  broadcasts {day.broadcasts}  {outcomes}  erased {day.erased}")
    return 0


async def export_subscribers(settings: Settings, *, sandbox: bool, aggregate: bool) -> int:
    if not aggregate:
        raise CommandError(
            "only aggregate counts are exported: add --aggregate "
            "(one person's data: stadtfunk export-resident --channel ... --id ...)"
        )
    figures, _ = await _figures(settings, sandbox)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["topic", "channel", "subscribers"])
    for (topic, channel), count in figures.subscribers.items():
        out.writerow([topic, channel.name.lower(), count])
    return 0
