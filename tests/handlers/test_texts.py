"""The German and English catalogs stay in step: same messages, same placeholders."""

from __future__ import annotations

import string

import pytest

from handlers.texts import Texts, pick_language


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogs_have_every_message_with_the_same_placeholders() -> None:
    texts = Texts.load()
    assert texts.keys("de") == texts.keys("en")
    assert len(texts.keys("de")) > 40
    for key in texts.keys("de"):
        assert placeholders(texts("de", key)) == placeholders(texts("en", key)), key


def test_unknown_language_falls_back_to_german() -> None:
    texts = Texts.load()
    assert texts("fr", "help") == texts("de", "help")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("EN", "en"),
        ("English", "en"),
        ("de_AT", "de"),
        ("Deutsch", "de"),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_pick_language(given: str | None, expected: str | None) -> None:
    assert pick_language(given) == expected
