"""How a broadcast reads for residents: the core's layout (broadcasts/render.py) with the words of the
catalogs (handlers/locale) and the city's topic names.

The engine sends what `composer` builds and the staff preview and test show the same, so what staff check
is what residents get.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import tzinfo

from broadcasts.channel import Message
from broadcasts.model import ALL_TOPICS, Amendment, Broadcast, Priority
from broadcasts.render import render
from city.config import City
from handlers.texts import DEFAULT_LANGUAGE, Texts

# The kind a channel client picks a message's form by (WhatsApp: its template).
KINDS: Mapping[Priority, str] = {Priority.ALERT: "alert", Priority.NEWS: "news", Priority.DIGEST: "digest"}
# The catalog's label in front of the topics: an alert must stand out in a list of chats.
LABELS: Mapping[Priority, str] = {
    Priority.ALERT: "broadcast_label_alert",
    Priority.NEWS: "broadcast_label_news",
    Priority.DIGEST: "broadcast_label_digest",
}


def topic_namer(city: Callable[[], City], texts: Texts) -> Callable[[str, str], str]:
    """Topic names in a language, read from the city at each call, since a reload may rename them."""

    def topic_name(topic_id: str, language: str) -> str:
        if topic_id == ALL_TOPICS:
            return texts(language, "all_topics")
        topic = city().topic(topic_id)
        return topic.name.get(language) if topic else topic_id

    return topic_name


def composer(city: Callable[[], City], texts: Texts) -> Callable[[Broadcast, str], Message]:
    """A broadcast as one resident gets it, in their language."""
    topic_name = topic_namer(city, texts)

    def compose(broadcast: Broadcast, language: str) -> Message:
        language = language or DEFAULT_LANGUAGE
        label = texts(language, LABELS[broadcast.priority])
        message = Message(
            render(broadcast, language, label, topic_name),
            image=broadcast.image,
            kind=KINDS[broadcast.priority],
            tag=broadcast.id,
            language=language,
        )
        if broadcast.amends is None:
            return message
        return amendment(message, broadcast, language, texts, city().tz)

    return compose


def amendment(message: Message, broadcast: Broadcast, language: str, texts: Texts, tz: tzinfo) -> Message:
    """A correction's or retraction's texts (see Message): what the original says from now on, the short
    note after that edit, and the whole follow-up where the messenger cannot edit."""
    at = broadcast.created_at.astimezone(tz)
    when = {"day": at.strftime("%d.%m.%Y"), "time": at.strftime("%H:%M")}
    if broadcast.amends is Amendment.CORRECTION:
        return replace(
            message,
            amended=f"{texts(language, 'correction_edited', **when)}\n\n{message.text}",
            note=texts(language, "correction_note"),
            quoted=f"{texts(language, 'correction_quoted', **when)}\n\n{message.text}",
        )
    reason = broadcast.text(language).strip()
    because = f"\n{texts(language, 'retraction_reason', reason=reason)}" if reason else ""
    quoted = f"{texts(language, 'retraction_note')}{because}"
    return replace(
        message,
        text=quoted,
        image=None,
        amended=f"{texts(language, 'retraction_edited', **when)}{because}",
        note=quoted,
        quoted=quoted,
    )
