"""`stadtfunk stats` and `stadtfunk export-subscribers --aggregate`: counts only, never a person."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

from bot.cli.common import CommandError, connected, figure_channels
from bot.settings import Settings
from city.config import load_city
from city.residents import Headcount, Residents
from city.statistics import OUTCOMES, Snapshot, snapshot
from city.values import Channel
from handlers.texts import Texts
from handlers.words import outcome_words


async def _figures(
    settings: Settings, sandbox: bool, *, people: bool = False
) -> tuple[Snapshot, dict[str, str], dict[Channel, Headcount]]:
    """The figures, and with `people` the residents per messenger: a walk over every record (every
    primary of a cluster), so only `stats` asks for it."""
    city = load_city(settings.city_config)
    async with connected(settings) as storage:
        today = datetime.now(UTC).astimezone(city.tz).date()
        figures = await snapshot(storage.redis, storage.keys, city, today, figure_channels(sandbox))
        headcount = await Residents(storage.redis, storage.keys, city.tz).headcount() if people else {}
    return figures, {topic.id: topic.name.de for topic in city.topics}, headcount


async def show_stats(settings: Settings, *, sandbox: bool) -> int:
    figures, names, headcount = await _figures(settings, sandbox, people=True)
    print("residents who agreed to the privacy notice (people, not subscriptions):")
    for channel in figure_channels(sandbox):
        people = headcount.get(channel, Headcount())
        print(f"  {channel.name.lower():<8} {people.agreed:>8}  ({people.inactive} blocked the bot or gone)")
    print("subscribers per topic and channel (change over 7 and 30 days):")
    width = max(map(len, names), default=10)
    for (topic, channel), count in figures.subscribers.items():
        change_7, change_30 = figures.change_7[(topic, channel)], figures.change_30[(topic, channel)]
        print(f"  {topic:<{width}}  {channel.name.lower():<8} {count:>8}  ({change_7:+d} / {change_30:+d})")
    print("broadcasts and deliveries per day (all channels):")
    # The outcomes in the words `stadtfunk status` and the chat use (handlers/locale, English).
    words = outcome_words(Texts.load(), "en")
    for day in figures.days:
        outcomes = "  ".join(f"{words[name]} {day.outcomes.get(name, 0)}" for name in OUTCOMES)
        print(f"  {day.day.isoformat()}  broadcasts {day.broadcasts}  {outcomes}  erased {day.erased}")
    return 0


async def export_subscribers(settings: Settings, *, sandbox: bool, aggregate: bool) -> int:
    if not aggregate:
        raise CommandError(
            "only aggregate counts are exported: add --aggregate "
            "(one person's data: stadtfunk export-resident --channel ... --id ...)"
        )
    figures, _, _ = await _figures(settings, sandbox)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["topic", "channel", "subscribers"])
    for (topic, channel), count in figures.subscribers.items():
        out.writerow([topic, channel.name.lower(), count])
    return 0
