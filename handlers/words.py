"""The words for what people read about broadcasts, defined once in the catalogs (handlers/locale) and
used by every output: the chat, the sandbox page and the command line.

One state has one word in each language: a broadcast waiting for the quiet hours to end is
"zurückgehalten", never "angehalten" (that is /anhalten, a pause) and never "held" on a German page.
Figures read as Germans write them: 2.500 and 295,1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, tzinfo

from broadcasts.calendar import Recurrence
from broadcasts.model import ALL_TOPICS, Broadcast, State
from city.config import City
from city.statistics import OUTCOMES
from city.values import Channel
from handlers.texts import Texts

# States whose progress (delivered, failed, time left) means something.
UNDER_WAY = frozenset({State.QUEUED, State.SENDING, State.PAUSED})
FINISHED = frozenset({State.DONE, State.CANCELLED})
MESSENGERS = {Channel.TELEGRAM: "Telegram", Channel.WHATSAPP: "WhatsApp", Channel.SANDBOX: "Sandbox"}
LANGUAGE_NAMES = {"de": "language_de", "en": "language_en"}


def number(n: int, language: str = "de") -> str:
    """A whole number with thousands separators: 2.500 in German, 2,500 in English."""
    return f"{n:,}".replace(",", ".") if language == "de" else f"{n:,}"


def decimal(x: float, language: str = "de") -> str:
    """One decimal place: 295,1 in German, 295.1 in English."""
    text = f"{x:.1f}"
    return text.replace(".", ",") if language == "de" else text


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def local_time(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def state_word(texts: Texts, language: str, state: State) -> str:
    """The one word for a state, without its details."""
    return texts(language, f"state_{state.value}")


def describe_state(texts: Texts, language: str, broadcast: Broadcast, tz: tzinfo) -> str:
    """The state with what a held or scheduled broadcast waits for: "zurückgehalten (Ruhezeit bis …)"."""
    if broadcast.needs_review:
        return texts(language, "staff_needs_review")
    when = local_time(broadcast.scheduled_for, tz) if broadcast.scheduled_for else ""
    if broadcast.state is State.HELD and broadcast.held is not None:
        return texts(language, f"state_held_{broadcast.held.value}", when=when)
    if broadcast.state is State.SCHEDULED and broadcast.recurrence:
        rule = rule_text(texts, language, Recurrence.decode(broadcast.recurrence))
        return texts(language, "state_repeating", rule=rule, when=when)
    state = state_word(texts, language, broadcast.state)
    return f"{state} ({when})" if broadcast.state is State.SCHEDULED and when else state


def rule_text(texts: Texts, language: str, rule: Recurrence) -> str:
    clock = f"{rule.clock:%H:%M}"
    if rule.weekday is None:
        return texts(language, "repeat_daily", time=clock)
    weekday = texts(language, "weekdays").split(",")[rule.weekday]
    return texts(language, "repeat_weekly", weekday=weekday, time=clock)


def outcome_words(texts: Texts, language: str) -> dict[str, str]:
    """The delivery outcomes as the figures name them: zugestellt, fehlgeschlagen, blockiert, …"""
    return {name: texts(language, f"outcome_{name}") for name in OUTCOMES}


def topic_names(texts: Texts, language: str, city: City, topic_ids: Iterable[str]) -> str:
    """Topics as people read them, in the city file's order; an unknown id (a removed topic) as it is."""
    wanted = set(topic_ids)
    if ALL_TOPICS in wanted:
        return texts(language, "all_topics")
    names = [topic.name.get(language) for topic in city.topics if topic.id in wanted]
    known = {topic.id for topic in city.topics}
    return ", ".join(names + sorted(wanted - known))


def language_name(texts: Texts, language: str, code: str) -> str:
    """A language in words: "Deutsch", "Englisch"."""
    key = LANGUAGE_NAMES.get(code)
    return texts(language, key) if key else code


def messenger_name(channel: Channel) -> str:
    return MESSENGERS.get(channel, channel.name.title())
