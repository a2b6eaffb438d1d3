"""Finding the topic or FAQ entry a person meant, the way people type on phones."""

from __future__ import annotations

import pytest

from bot.settings import DEFAULT_CITY_FILE
from city.config import City, load_city
from handlers.matching import find_faq, find_topic, normalize


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEFAULT_CITY_FILE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bürgerbüro", "buergerbuero"),
        ("STRAẞE", "strasse"),
        ("  Café  ", "cafe"),
        ("Feuerwehr & Krisen", "feuerwehr krisen"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("query", "topic_id"),
    [
        ("verkehr", "verkehr"),
        ("Traffic", "verkehr"),
        ("BAUSTELLEN", "baustellen"),
        ("roadworks", "baustellen"),
        ("feuerwehr", "feuerwehr"),
        ("Feuerwehr & Krisen", "feuerwehr"),
        ("Abfall und Umwelt", None),
        ("abf", "abfall"),
        ("ab", None),
        ("", None),
        ("🚀", None),
        ("Sternwarte", "sternwarte"),
    ],
)
def test_find_topic(city: City, query: str, topic_id: str | None) -> None:
    topic = find_topic(city, query)
    assert (topic.id if topic else None) == topic_id


@pytest.mark.parametrize(
    ("query", "question_start"),
    [
        ("sperrmüll", "Wie melde ich Sperrmüll"),
        ("Sperrmuell abholen", "Wie melde ich Sperrmüll"),
        ("personalausweis beantragen", "Wie beantrage ich einen neuen Personalausweis"),
        ("dog", "Muss ich meinen Hund anmelden"),
        ("quantenphysik", None),
    ],
)
def test_find_faq(city: City, query: str, question_start: str | None) -> None:
    entry = find_faq(city, query)
    assert (entry.question.de[: len(question_start)] if entry and question_start else entry) == question_start
