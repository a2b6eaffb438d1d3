"""A broadcast as residents get it: the catalogs' words around the core's layout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.settings import DEFAULT_CITY_FILE
from broadcasts.channel import Message
from broadcasts.model import ALL_TOPICS, Broadcast, Priority
from city.config import City, load_city
from handlers.rendering import composer, topic_namer
from handlers.texts import Texts

CREATED = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEFAULT_CITY_FILE)


@pytest.fixture(scope="module")
def compose(city: City) -> Callable[[Broadcast, str], Message]:
    return composer(lambda: city, Texts.load())


def broadcast(
    priority: Priority, topics: tuple[str, ...], text_en: str | None = None, links: tuple[str, ...] = ()
) -> Broadcast:
    return Broadcast(
        id="7",
        topics=topics,
        text_de="Rathaus geschlossen",
        text_en=text_en,
        author="lagedienst",
        created_at=CREATED,
        priority=priority,
        links=links,
        image="media/rathaus.jpg",
    )


@pytest.mark.parametrize(
    ("priority", "topics", "language", "text"),
    [
        (Priority.ALERT, (ALL_TOPICS,), "de", "⚠️ Eilmeldung Alle Themen\n\nRathaus geschlossen"),
        (Priority.ALERT, (ALL_TOPICS,), "en", "⚠️ Urgent alert All topics\n\nCity hall closed"),
        (Priority.ALERT, ("feuerwehr",), "fr", "⚠️ Eilmeldung Feuerwehr & Krisen\n\nRathaus geschlossen"),
        (Priority.NEWS, ("verkehr", "baustellen"), "de", "📣 Verkehr, Baustellen\n\nRathaus geschlossen"),
        (Priority.NEWS, ("verkehr",), "en", "📣 Traffic\n\nCity hall closed"),
        (Priority.DIGEST, ("kultur",), "de", "🗞️ Kultur\n\nRathaus geschlossen"),
        (Priority.NEWS, ("gone",), "de", "📣 gone\n\nRathaus geschlossen"),
    ],
)
def test_the_header_names_the_kind_and_the_topics_in_the_residents_language(
    compose: Callable[[Broadcast, str], Message],
    priority: Priority,
    topics: tuple[str, ...],
    language: str,
    text: str,
) -> None:
    assert compose(broadcast(priority, topics, "City hall closed"), language).text == text


def test_the_message_carries_what_the_channels_pick_their_form_by(
    compose: Callable[[Broadcast, str], Message],
) -> None:
    message = compose(broadcast(Priority.ALERT, ("feuerwehr",), links=("https://example.org/a",)), "")
    assert message == Message(
        "⚠️ Eilmeldung Feuerwehr & Krisen\n\nRathaus geschlossen\n\n🔗 https://example.org/a",
        image="media/rathaus.jpg",
        kind="alert",
        tag="7",
        language="de",
    )


def test_topic_names_follow_a_reloaded_city(city: City) -> None:
    current = [city]
    renamed = city.model_copy(
        update={"topics": [t.model_copy(update={"id": "verkehr2"}) for t in city.topics[:1]]}
    )
    name = topic_namer(lambda: current[0], Texts.load())
    assert name("verkehr", "de") == "Verkehr"
    current[0] = renamed
    assert name("verkehr", "de") == "verkehr"
    assert name(ALL_TOPICS, "en") == "All topics"
