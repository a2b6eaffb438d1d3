"""A broadcast's version: every part residents get changes it, the salt makes it unpredictable, and the
short hash on a button fits Telegram's 64 bytes for every kind of broadcast id."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from broadcasts.model import Broadcast, Priority, State
from broadcasts.version import SHORT_LENGTH, content_hash, matches, short

BASE = Broadcast(
    id="7",
    topics=("verkehr",),
    text_de="Die B7 ist gesperrt.",
    author="presse-redaktion",
    created_at=datetime(2026, 11, 23, 9, tzinfo=UTC),
    text_en="The B7 is closed.",
    scheduled_for=datetime(2026, 11, 24, 17, tzinfo=UTC),
)


@pytest.mark.parametrize(
    "changed",
    [
        {"text_de": "Die B7 ist frei."},
        {"text_en": "The B7 is open."},
        {"text_en": None},
        {"image": "umleitung.png"},
        {"links": ("https://beispielstadt.de/b7",)},
        {"topics": ("baustellen",)},
        {"topics": ("verkehr", "baustellen")},
        {"priority": Priority.ALERT},
        {"scheduled_for": datetime(2026, 11, 24, 18, tzinfo=UTC)},
        {"scheduled_for": None},
        {"recurrence": "daily 18:00"},
    ],
)
def test_every_part_residents_get_changes_the_version(changed: dict[str, object]) -> None:
    assert content_hash(replace(BASE, **changed), "salt") != content_hash(BASE, "salt")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changed",
    [{"state": State.APPROVED}, {"needs_review": True}, {"escalated": True}, {"id": "8"}, {"author": "x"}],
)
def test_what_residents_do_not_get_leaves_the_version(changed: dict[str, object]) -> None:
    assert content_hash(replace(BASE, **changed), "salt") == content_hash(BASE, "salt")  # type: ignore[arg-type]


def test_the_salt_makes_the_same_text_a_different_version() -> None:
    assert content_hash(BASE, "one") != content_hash(BASE, "two")


def test_only_the_exact_short_hash_names_a_version() -> None:
    version = content_hash(BASE, "salt")
    assert matches(version, short(version))
    assert matches(version, short(version).upper())
    for given in (short(version)[:-1], short(version) + "0", version, "", "0" * SHORT_LENGTH, "zz"):
        assert not matches(version, given), given
    assert not matches("", "")


@pytest.mark.parametrize("broadcast_id", ["123456", "12-20261130", "digest-2026-11-30"])
@pytest.mark.parametrize("command", ["/freigeben", "/ablehnen", "/geprueft"])
def test_a_bound_button_fits_telegrams_callback_data(command: str, broadcast_id: str) -> None:
    data = f"{command} {broadcast_id} {short(content_hash(BASE, 'salt'))}"
    assert len(data.encode()) <= 64
