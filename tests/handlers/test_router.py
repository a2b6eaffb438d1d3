"""The command table the conversation is built with: every module's commands, each name once."""

from __future__ import annotations

import pytest

from handlers.conversation import build_router

STAFF_COMMANDS = [
    ("meldung", "news"),
    ("eilmeldung", "alert"),
    ("planen", "schedule"),
    ("einreichen", "submit"),
    ("aendern", "edit"),
    ("verwerfen", "discard"),
    ("probe", "test"),
    ("freigeben", "approve"),
    ("ablehnen", "reject"),
    ("abbrechen", "cancel"),
    ("anhalten", "pause"),
    ("fortsetzen", "resume"),
    ("geprueft", "reviewed"),
    ("offen", "pending"),
    ("statistik", "stats"),
]


@pytest.mark.parametrize(("german", "english"), STAFF_COMMANDS)
def test_every_staff_command_answers_to_its_german_and_english_name(german: str, english: str) -> None:
    router = build_router()
    handler = router.find(german)
    assert handler is not None
    assert router.find(english) is handler


def test_a_second_registration_of_a_name_fails() -> None:
    router = build_router()
    with pytest.raises(ValueError, match="registered twice"):
        router.include(build_router())
