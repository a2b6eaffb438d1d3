"""The key schema keeps what one script, transaction or multi-key command touches in one Cluster slot.

The suite's cluster runs prove it at the server, which refuses a command across slots (CROSSSLOT);
this names the groups, so that a new key that breaks one fails here first, with the group's name.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.crc import key_slot

from city.keys import Keys
from city.values import Channel, Resident

KEYS = Keys("stadtfunk")
RESIDENT = Resident(Channel.TELEGRAM, "4711")


def slots(*keys: str) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


def one_broadcast(broadcast_id: str) -> list[str]:
    """The planner's, the settle script's, a cancel's and the progress reporter's keys of one broadcast."""
    per_channel = [
        make(broadcast_id, channel)
        for channel in Channel
        for make in (KEYS.broadcast_queue, KEYS.broadcast_sending)
    ]
    whole: list[Callable[[str], str]] = [
        KEYS.broadcast, KEYS.broadcast_progress, KEYS.broadcast_plan, KEYS.broadcast_planner,
        KEYS.broadcast_seen, KEYS.broadcast_media, KEYS.broadcast_report, KEYS.broadcast_reporter,
    ]  # fmt: skip
    return [make(broadcast_id) for make in whole] + per_channel


@pytest.mark.parametrize("broadcast_id", ["1", "42", "digest-2026-11-24", "12-20261130"])
def test_every_key_of_a_broadcast_shares_one_slot(broadcast_id: str) -> None:
    assert len(slots(*one_broadcast(broadcast_id))) == 1


def test_broadcasts_spread_over_the_slots() -> None:
    """Different broadcasts land on different slots, so a cluster shares their work out."""
    assert len({next(iter(slots(*one_broadcast(str(n))))) for n in range(1, 101)}) > 90


def test_a_residents_keys_share_one_slot_and_erasure_deletes_them_at_once() -> None:
    mine = [KEYS.resident(RESIDENT), KEYS.resident_topics(RESIDENT), KEYS.resident_pending(RESIDENT),
            KEYS.resident_misses(RESIDENT)]  # fmt: skip
    assert len(slots(*mine)) == 1


@pytest.mark.parametrize("channel", list(Channel))
def test_a_topics_two_audiences_share_a_slot_so_smove_switches_delivery_mode(channel: Channel) -> None:
    assert len(slots(KEYS.audience("verkehr", channel), KEYS.audience_daily("verkehr", channel))) == 1


def test_the_limiters_budget_and_its_recipients_share_a_slot() -> None:
    budget = KEYS.limiter(Channel.TELEGRAM, 123456)
    assert len(slots(budget, f"{budget}:r:0f1e2d3c", f"{budget}:r:a9b8c7d6")) == 1


def test_a_whatsapp_residents_marks_share_a_slot() -> None:
    hashed = "4f1c0e2b9a7d"
    assert len(slots(KEYS.whatsapp_window(hashed), KEYS.whatsapp_seen(hashed))) == 1
