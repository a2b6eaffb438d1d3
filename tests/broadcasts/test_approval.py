"""The four-eyes rules as pure functions over the example city's staff."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from broadcasts.approval import (
    Refusal,
    approvers,
    may_approve,
    may_draft,
    may_resume,
    may_see,
    may_send,
    needs_approval,
    pauses_as_approver,
)
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


@pytest.mark.parametrize(
    ("who", "topics", "allowed"),
    [
        ("presse-redaktion", ("feuerwehr",), True),  # editor of every topic
        ("presse-freigabe", ("feuerwehr",), True),  # approver of every topic
        ("feuerwehr-lagedienst", ("feuerwehr",), True),
        ("kulturamt", ("feuerwehr",), False),  # the culture office reads no fire brigade draft
        ("sternwarte", ("sternwarte", "feuerwehr"), False),  # a role for every topic it reaches
        ("sternwarte", ("sternwarte",), True),
    ],
)
def test_who_may_see_a_draft_before_it_is_out(who: str, topics: tuple[str, ...], allowed: bool) -> None:
    assert may_see(CITY, staff(who), broadcast("feuerwehr-lagedienst", *topics)).allowed is allowed
    assert may_see(CITY, staff(who), broadcast(who, *topics)).allowed, "the author always"


def approved_by(approver: str, *topics: str, author: str = "presse-redaktion") -> Broadcast:
    return replace(broadcast(author, *topics), version="v1", approved="v1", approved_by=approver)


def test_sending_checks_the_roles_as_the_city_file_stands_now() -> None:
    assert may_send(CITY, approved_by("presse-freigabe", "verkehr")).allowed
    changed = replace(approved_by("presse-freigabe", "verkehr"), version="v2")
    assert may_send(CITY, changed).refusal is Refusal.NOT_APPROVED
    gone = may_send(CITY, approved_by("nobody-any-more", "verkehr"))
    assert (gone.refusal, gone.topics) == (Refusal.APPROVER_LACKS_ROLE, ("verkehr",))
    narrowed = may_send(CITY, approved_by("feuerwehr-lagedienst", "verkehr"))
    assert (narrowed.refusal, narrowed.topics) == (Refusal.APPROVER_LACKS_ROLE, ("verkehr",))
    author_gone = may_send(CITY, approved_by("presse-freigabe", "verkehr", author="left-the-city"))
    assert author_gone.refusal is Refusal.AUTHOR_LACKS_ROLE
    # Released by its author where no approval was needed: only while it still needs none.
    assert may_send(CITY, approved_by("sternwarte", "sternwarte", author="sternwarte")).allowed
    self_released = may_send(CITY, approved_by("presse-redaktion", "verkehr"))
    assert self_released.refusal is Refusal.NEEDS_APPROVAL
    digest = replace(broadcast("system", ALL_TOPICS), version="d", approved="d", approved_by="system")
    assert may_send(CITY, digest).allowed


def test_an_approvers_pause_needs_an_approver_to_go_on() -> None:
    paused = replace(broadcast("kulturamt", "kultur"), approver_paused=True)
    refused = may_resume(CITY, staff("kulturamt"), paused)
    assert (refused.refusal, refused.topics) == (Refusal.APPROVER_PAUSED, ("kultur",))
    assert may_resume(CITY, staff("presse-freigabe"), paused).allowed
    assert may_resume(CITY, staff("kulturamt"), replace(paused, approver_paused=False)).allowed
    assert pauses_as_approver(CITY, staff("presse-freigabe"), paused)
    assert not pauses_as_approver(CITY, staff("presse-redaktion"), paused), "an editor's pause"
    assert not pauses_as_approver(CITY, staff("kulturamt"), paused), "the author's own pause"
