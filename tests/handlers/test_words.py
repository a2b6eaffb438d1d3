"""One word per state, defined once in the catalogs and used by the chat, the sandbox page and the CLI."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broadcasts.model import Broadcast, Hold, Priority, State
from city.config import load_city
from city.values import Channel
from handlers import words
from handlers.texts import LANGUAGES, Texts

TEXTS = Texts.load()
EXAMPLE_CITY = Path(__file__).parents[2] / "bot" / "cities" / "beispielstadt.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
# The word a pause has (the same as /anhalten) must never name something that waits for the quiet hours.
PAUSED = {"de": "angehalten", "en": "paused"}
HELD = {"de": "zurückgehalten", "en": "held"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_state_has_a_word_of_its_own(language: str) -> None:
    named = {state: words.state_word(TEXTS, language, state) for state in State}
    assert len(set(named.values())) == len(State), named
    assert named[State.PAUSED] == PAUSED[language]
    assert named[State.HELD] == HELD[language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_held_broadcast_reads_as_held_with_what_it_waits_for(language: str) -> None:
    until = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    quiet = broadcast(State.HELD, held=Hold.QUIET, scheduled_for=until)
    missed = broadcast(State.HELD, held=Hold.MISSED, scheduled_for=until)
    for held in (quiet, missed):
        shown = words.describe_state(TEXTS, language, held, BERLIN)
        assert shown.startswith(HELD[language] + " ("), shown
        assert "24.11.2026 07:00" in shown
        assert PAUSED[language] not in shown


def test_no_catalog_text_calls_held_news_paused_or_paused_news_held() -> None:
    catalog = {key: TEXTS("de", key) for key in TEXTS.keys("de")}
    for key, text in catalog.items():
        assert "angehalten (Ruhezeit" not in text, key
        assert "Ruhezeit" not in text or "angehalten" not in text, key
        # "pausiert" was a second word for a pause; only a resident's paused delivery keeps it.
        assert "pausiert" not in text or key == "mydata", key
    for key in ("staff_missed_author", "staff_digest_missed", "staff_held_quiet"):
        assert "zurückgehalten" in catalog[key], key
    for key in ("staff_paused", "staff_paused_by_approver", "staff_whatsapp_paused"):
        assert "angehalten" in catalog[key], key


def test_figures_read_as_germans_write_them() -> None:
    assert words.number(2500) == "2.500"
    assert words.number(1234567) == "1.234.567"
    assert words.number(2500, "en") == "2,500"
    assert words.decimal(295.14) == "295,1"
    assert words.decimal(295.14, "en") == "295.1"
    assert words.messenger_name(Channel.WHATSAPP) == "WhatsApp"
    # The outcomes as the chat, `stadtfunk status` and `stadtfunk stats` name them.
    assert words.outcome_words(TEXTS, "de") == {
        "sent": "zugestellt", "failed": "fehlgeschlagen", "blocked": "blockiert", "retired": "ausgeschieden",
    }  # fmt: skip
    assert words.outcome_words(TEXTS, "en")["sent"] == "delivered"


def test_topics_are_named_not_numbered_by_their_ids() -> None:
    city = load_city(EXAMPLE_CITY)
    assert words.topic_names(TEXTS, "de", city, ["kultur", "verkehr"]) == "Verkehr, Kultur"
    assert words.topic_names(TEXTS, "en", city, ["abfall"]) == "Waste & environment"
    assert words.topic_names(TEXTS, "de", city, ["alle"]) == "Alle Themen"
    assert words.topic_names(TEXTS, "de", city, ["verkehr", "gone"]) == "Verkehr, gone"


def test_no_english_word_for_a_state_in_a_german_text() -> None:
    english = re.compile(r"\b(?:done|held|draft|queued|sending|paused|cancelled|approved|scheduled)\b")
    for key in TEXTS.keys("de"):
        assert not english.search(TEXTS("de", key)), key


def broadcast(state: State, **fields: object) -> Broadcast:
    base = Broadcast(
        id="7",
        topics=("verkehr",),
        text_de="Text",
        author="presse-redaktion",
        created_at=datetime(2026, 11, 23, 22, 0, tzinfo=UTC),
        priority=Priority.NEWS,
        state=state,
    )
    return replace(base, **fields)  # type: ignore[arg-type]
