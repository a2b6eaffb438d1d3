"""`stadtfunk status [id]`: a broadcast's state in the words the chat and the sandbox page use (the
catalogs' English ones here), its counters, and time left only while it goes out."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from bot.cli.common import connected
from bot.settings import Settings
from broadcasts.model import Broadcast, State
from broadcasts.progress import Progress
from broadcasts.store import BroadcastStore
from city.config import City, load_city
from city.values import Channel
from handlers import words
from handlers.texts import Texts

# The operator's terminal speaks English; the words are the catalog's, as staff read them in English.
LANGUAGE = "en"


async def show_status(settings: Settings, broadcast_id: str | None) -> int:
    city = load_city(settings.city_config)
    texts = Texts.load()
    async with connected(settings) as storage:
        store = BroadcastStore(storage.redis, storage.keys)
        ids = [broadcast_id] if broadcast_id is not None else await store.active.everywhere()
        if not ids:
            print("no broadcast is sending")
        for one in ids:
            broadcast = await store.get(one)
            if broadcast is None:
                print(f"stadtfunk: there is no broadcast {one}", file=sys.stderr)
                return 2
            print(describe(await store.progress(one), broadcast, settings, texts, city))
        return 0


def describe(progress: Progress, broadcast: Broadcast, settings: Settings, texts: Texts, city: City) -> str:
    """Counters, rate so far and, while it sends, time left at the platform limit."""
    state = words.describe_state(texts, LANGUAGE, broadcast, city.tz)
    planning = "" if progress.planned or progress.state not in words.UNDER_WAY else " (planning)"
    lines = [f"broadcast {progress.broadcast_id}: {state}{planning}"]
    outcome = words.outcome_words(texts, LANGUAGE)
    for channel, counts in progress.channels.items():
        lines.append(
            f"  {channel.name.lower()}: {counts.settled}/{counts.total} settled: "
            f"{counts.sent} {outcome['sent']}, {counts.failed} {outcome['failed']}, "
            f"{counts.blocked} {outcome['blocked']}, {counts.retired} {outcome['retired']}, "
            f"{counts.maybe_duplicate} maybe sent twice"
        )
    if progress.total:
        now = datetime.now(UTC)
        sending = broadcast.state in (State.QUEUED, State.SENDING)
        rate = f"{progress.rate(now):.1f}/s" + (" so far" if sending else "")
        line = f"  {100 * progress.settled / progress.total:.0f} %, {rate}"
        if sending:
            pace = 1 - settings.rate_limit_margin
            limits = {
                Channel.TELEGRAM: settings.telegram_rate_limit * pace,
                Channel.WHATSAPP: settings.whatsapp_rate_limit * pace,
            }
            line += f", about {words.duration(progress.eta_seconds(limits))} left at the platform limit"
        lines.append(line)
    return "\n".join(lines)
