"""The layout of a broadcast, with the words given by the caller."""

from __future__ import annotations

from datetime import UTC, datetime

from broadcasts.model import Broadcast
from broadcasts.render import render


def names(topic_id: str, language: str) -> str:
    return f"{topic_id}:{language}"


BROADCAST = Broadcast(
    id="3",
    topics=("verkehr", "kultur"),
    text_de="Text",
    text_en="Text EN",
    author="presse-redaktion",
    created_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC),
    links=("https://example.org/1", "https://example.org/2"),
)


def test_header_text_and_links_in_that_order() -> None:
    assert render(BROADCAST, "en", "LABEL", names) == (
        "LABEL verkehr:en, kultur:en\n\nText EN\n\n🔗 https://example.org/1\n🔗 https://example.org/2"
    )


def test_an_empty_label_leaves_no_stray_space() -> None:
    assert render(BROADCAST, "de", "", names).startswith("verkehr:de, kultur:de\n\nText\n\n")
