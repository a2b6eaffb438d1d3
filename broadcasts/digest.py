"""The daily digest: every non-urgent item of a resident's topics since the last digest, grouped by
topic, in their language, split at item boundaries where one message would be too long."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from city.config import City

from broadcasts.model import Broadcast
from broadcasts.timeline import Item, Timeline

# Telegram allows 4,096 characters and WhatsApp 4,096 for a text body; room is left for the part mark.
LONGEST = 4000
HEADINGS = {"de": "🗞️ Ihr Tagesüberblick · {city} · {day}", "en": "🗞️ Your daily digest · {city} · {day}"}
CONTINUED = {"de": " (Fortsetzung)", "en": " (continued)"}


@dataclass(frozen=True, slots=True)
class DigestRun:
    """One digest run's items, loaded once and cut to each resident's topics and subscription time."""

    items: Mapping[str, Sequence[Item]]  # by topic id, in the order topics are listed
    city_name: str
    day: str  # "23.11.2026"
    tz: tzinfo
    topic_name: Callable[[str, str], str]

    def parts(self, topics: Collection[str], language: str, daily_since: datetime | None) -> list[str]:
        """The messages one resident gets; none when nothing of theirs was published."""
        language = "en" if language == "en" else "de"
        sections: list[tuple[str, list[str]]] = []
        seen: set[str] = set()
        for topic_id, items in self.items.items():
            if topic_id not in topics:
                continue
            lines = []
            for item in items:
                if item.broadcast.id in seen or (daily_since and item.published_at <= daily_since):
                    continue  # in two topics: listed once; before the switch to digests: already sent
                seen.add(item.broadcast.id)
                lines.append(self._line(item, language))
            if lines:
                sections.append((self.topic_name(topic_id, language), lines))
        if not sections:
            return []
        heading = HEADINGS[language].format(city=self.city_name, day=self.day)
        return _pack(heading, sections, CONTINUED[language])

    def _line(self, item: Item, language: str) -> str:
        broadcast = item.broadcast
        at = item.published_at.astimezone(self.tz).strftime("%H:%M")
        text = f"• {at} {broadcast.text(language)}"
        if broadcast.links:
            text += "\n" + "\n".join(f"  🔗 {link}" for link in broadcast.links)
        return text


class DigestLoader:
    """Loads a digest broadcast's items once, for the planner to cut per resident."""

    def __init__(
        self, timeline: Timeline, city: Callable[[], City], topic_name: Callable[[str, str], str]
    ) -> None:
        self._timeline = timeline
        self._city = city
        self._topic_name = topic_name

    async def __call__(self, digest: Broadcast) -> DigestRun:
        until = digest.scheduled_for or digest.created_at
        return await self.between(digest.since or until, until)

    async def between(self, since: datetime, until: datetime) -> DigestRun:
        city = self._city()
        items = await self._timeline.news_between([topic.id for topic in city.topics], since, until)
        day = until.astimezone(city.tz).strftime("%d.%m.%Y")
        return DigestRun(items, city.name, day, city.tz, self._topic_name)


def _pack(heading: str, sections: Sequence[tuple[str, Sequence[str]]], continued: str) -> list[str]:
    """Fill messages item by item; a topic that goes on in the next message repeats its name."""
    parts: list[list[str]] = [[heading]]
    size = len(heading)
    for name, items in sections:
        # An item longer than a whole message is cut, so that it fits below the heading and its topic.
        room = LONGEST - len(heading) - len(name + continued) - 4
        lines = [line if len(line) <= room else line[: room - 1] + "…" for line in items]
        block_head = f"\n\n{name}"
        if size + len(block_head) + len(lines[0]) + 1 > LONGEST:
            parts.append([])
            size, block_head = 0, name
        parts[-1].append(block_head)
        size += len(block_head)
        for line in lines:
            if size + len(line) + 1 > LONGEST:
                parts.append([name + continued])
                size = len(name + continued)
            parts[-1].append("\n" + line)
            size += len(line) + 1
    texts = ["".join(part) for part in parts]
    if len(texts) > 1:
        texts = [f"{text}\n\n({index}/{len(texts)})" for index, text in enumerate(texts, 1)]
    return texts
