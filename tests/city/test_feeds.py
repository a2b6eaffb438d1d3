"""The city file's `feeds:` section: what is accepted, and what a press officer is told to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from city.config import load_city
from tests.city.test_config import BASE, error_for, write

FEEDS = """\
feeds:
  - id: pressestelle
    url: https://www.stadt-beispiel.de/rss/pressemitteilungen.xml
    topic: verkehr
  - id: polizei
    url: https://www.presseportal.de/blaulicht/rss/dienststelle_13248.rss2
    topic_by_keyword: {verkehr: [Sperrung, umleitung], kultur: konzert}
    mode: digest
    poll_minutes: 5
"""


def test_feeds_are_read_with_their_defaults(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, BASE + FEEDS))
    press, police = city.feeds
    assert (press.id, press.topic, press.mode) == ("pressestelle", ["verkehr"], "draft")
    assert press.poll_minutes == 10
    assert police.topic_by_keyword == {"verkehr": ["sperrung", "umleitung"], "kultur": ["konzert"]}
    assert (police.mode, police.poll_minutes, police.topic_ids) == ("digest", 5, ["verkehr", "kultur"])


def test_a_city_without_feeds_has_none(tmp_path: Path) -> None:
    assert load_city(write(tmp_path, BASE)).feeds == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("topic: verkher", 'unknown topic "verkher"'),
        ("topic_by_keyword: {verkehr: [sperrung], sport: [tor]}", 'unknown topic "sport"'),
        ("mode: publish\n    topic: verkehr", '"publish" sends without a second person, but "verkehr"'),
        ("mode: sofort\n    topic: verkehr", "mode"),
        ("poll_minutes: 0\n    topic: verkehr", "poll_minutes"),
        ("colour: blue\n    topic: verkehr", "colour"),
        ("poll_minutes: 5", 'needs "topic"'),
    ],
)
def test_a_wrong_feed_is_refused_with_a_message_naming_it(tmp_path: Path, entry: str, expected: str) -> None:
    text = BASE + f"feeds:\n  - id: pressestelle\n    url: https://example.de/rss.xml\n    {entry}\n"
    message = error_for(write(tmp_path, text))
    assert expected in message
    assert "feeds" in message


def test_publish_is_allowed_where_the_topic_needs_no_approval(tmp_path: Path) -> None:
    text = BASE.replace("department: Kulturamt", "department: Kulturamt\n    approval_required: false")
    text += "feeds:\n  - id: kultur\n    url: https://example.de/k.xml\n    topic: kultur\n"
    text += "    mode: publish\n"
    assert load_city(write(tmp_path, text)).feeds[0].mode == "publish"


def test_two_feeds_with_one_id_are_refused(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, BASE + FEEDS.replace("id: polizei", "id: pressestelle")))
    assert '"pressestelle" is used twice' in message


def test_a_feed_address_must_be_a_web_address(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, BASE + FEEDS.replace("https://www.stadt", "ftp://www.stadt")))
    assert "feeds" in message
    assert "https://" in message
