"""The words the sandbox page shows, from the catalogs (handlers/words.py) as the chat uses them, in
German: a state, a kind of broadcast, roles with their topics, figures written as Germans write them.

The page only places these words; the machine values (state, kind, roles, counts) stay beside them for
its logic and its tests.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from broadcasts.model import Broadcast, Priority
from broadcasts.progress import Progress
from city.config import City, StaffMember
from city.statistics import Snapshot
from handlers import words
from handlers.texts import Texts

# The sandbox stands in for a German city's messengers; its page speaks German, as the chats do.
LANGUAGE = "de"


def kinds(texts: Texts) -> dict[str, str]:
    """What a message to a resident is, by the kind its event carries: Eilmeldung, Meldung, …"""
    return {priority.name.lower(): words.kind_word(texts, LANGUAGE, priority) for priority in Priority}


def staff_member(texts: Texts, city: City, member: StaffMember, chat: str) -> dict[str, Any]:
    roles = words.roles_text(texts, LANGUAGE, city, member)
    return {
        "id": member.id,
        "name": member.name,
        "roles": sorted(member.roles),
        "roles_label": roles,
        "label": f"{member.name} – {roles}",
        "chat": chat,
    }


def broadcast(
    texts: Texts, city: City, shown: Broadcast, progress: Progress, *, author: str, now: datetime
) -> dict[str, Any]:
    percent = math.floor(100 * progress.settled / progress.total) if progress.total else 0
    failed = sum(c.failed for c in progress.channels.values())
    blocked = sum(c.blocked for c in progress.channels.values())
    rate = progress.rate(now)
    state = words.describe_state(texts, LANGUAGE, shown, city.tz)
    kind = words.kind_word(texts, LANGUAGE, shown.priority)
    topics = words.topic_names(texts, LANGUAGE, city, shown.topics)
    return {
        "id": shown.id,
        "state": progress.state.value,
        "state_label": state,
        "kind": shown.priority.name.lower(),
        "kind_label": kind,
        "author": author,
        "topics": list(shown.topics),
        "topic_names": topics,
        "headline": texts(LANGUAGE, "page_headline", kind=kind, topics=topics, author=author),
        "text": shown.text_de,
        "total": progress.total,
        "sent": progress.sent,
        "failed": failed,
        "blocked": blocked,
        "percent": percent,
        "rate": round(rate, 1),
        "progress_text": texts(
            LANGUAGE,
            "page_progress",
            state=state,
            percent=percent,
            sent=words.number(progress.sent),
            total=words.number(progress.total),
            failed=words.number(failed),
            blocked=words.number(blocked),
            rate=words.decimal(rate),
        ),
    }


def statistics(texts: Texts, city: City, figures: Snapshot) -> dict[str, Any]:
    names = {topic.id: topic.name.de for topic in city.topics}
    today = figures.days[0] if figures.days else None
    outcome = words.outcome_words(texts, LANGUAGE)
    today_text = ""
    if today is not None:
        parts = [f"{texts(LANGUAGE, 'figure_broadcasts')}: {words.number(today.broadcasts)}"]
        parts += [f"{label}: {words.number(today.outcomes.get(name, 0))}" for name, label in outcome.items()]
        today_text = " · ".join(parts)
    return {
        "subscribers": [
            {
                "topic": names.get(topic, topic),
                "channel": channel.value,
                "count": count,
                "count_text": words.number(count),
            }
            for (topic, channel), count in figures.subscribers.items()
        ],
        "today": {"broadcasts": today.broadcasts, **today.outcomes} if today else {},
        "today_text": today_text,
    }
