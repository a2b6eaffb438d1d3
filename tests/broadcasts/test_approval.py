"""The four-eyes rules as pure functions over the example city's staff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broadcasts.approval import Refusal, approvers, may_approve, may_draft, needs_approval
from broadcasts.model import ALL_TOPICS, Broadcast, Priority
from city.config import StaffMember
from tests.broadcasts.conftest import CITY


def staff(staff_id: str) -> StaffMember:
    member = CITY.staff_member(staff_id)
    assert member is not None
    return member


def broadcast(author: str, *topics: str, priority: Priority = Priority.NEWS) -> Broadcast:
    return Broadcast(
        id="7", topics=topics, text_de="x", author=author, created_at=datetime.now(UTC), priority=priority
    )


@pytest.mark.parametrize(
    ("who", "topics", "priority", "allowed", "refusal"),
    [
        ("presse-redaktion", ("verkehr",), Priority.NEWS, True, None),
        ("kulturamt", ("kultur",), Priority.NEWS, True, None),
        ("kulturamt", ("verkehr",), Priority.NEWS, False, Refusal.NOT_EDITOR),
        ("feuerwehr-lagedienst", ("feuerwehr",), Priority.ALERT, True, None),
        ("feuerwehr-lagedienst", (ALL_TOPICS,), Priority.ALERT, False, Refusal.NOT_ALERT),
        ("presse-redaktion", ("feuerwehr",), Priority.ALERT, False, Refusal.NOT_ALERT),
        ("presse-leitung", (ALL_TOPICS,), Priority.ALERT, True, None),
        ("presse-freigabe", ("verkehr",), Priority.NEWS, False, Refusal.NOT_EDITOR),
    ],
)
def test_who_may_draft(
    who: str, topics: tuple[str, ...], priority: Priority, allowed: bool, refusal: Refusal | None
) -> None:
    verdict = may_draft(CITY, staff(who), topics, priority)
    assert (verdict.allowed, verdict.refusal) == (allowed, refusal)


def test_identity_is_the_staff_entry_not_the_messenger_account() -> None:
    # presse-leitung has a Telegram id and a WhatsApp number: from either, it is the same author.
    leader = staff("presse-leitung")
    assert leader.telegram_id is not None
    assert leader.whatsapp is not None
    assert CITY.staff_by_whatsapp(leader.whatsapp) == CITY.staff_by_telegram(leader.telegram_id)
    verdict = may_approve(CITY, leader, broadcast("presse-leitung", "verkehr"))
    assert verdict.refusal is Refusal.OWN_BROADCAST


def test_approvers_need_the_role_for_every_topic() -> None:
    fire = staff("feuerwehr-lagedienst")
    assert may_approve(CITY, fire, broadcast("presse-redaktion", "feuerwehr")).allowed
    refused = may_approve(CITY, fire, broadcast("presse-redaktion", "feuerwehr", "verkehr"))
    assert (refused.refusal, refused.topics) == (Refusal.NOT_APPROVER, ("verkehr",))
    names = {m.id for m in approvers(CITY, broadcast("presse-redaktion", "feuerwehr"))}
    assert names == {"presse-leitung", "presse-freigabe", "feuerwehr-lagedienst"}


def test_which_broadcasts_need_a_second_person() -> None:
    assert needs_approval(CITY, broadcast("x", "verkehr"))
    assert not needs_approval(CITY, broadcast("x", "sternwarte"))
    assert needs_approval(CITY, broadcast("x", "sternwarte", "verkehr"))
    assert (
        needs_approval(CITY, broadcast("x", "feuerwehr", priority=Priority.ALERT))
        is CITY.alerts_need_approval
    )
