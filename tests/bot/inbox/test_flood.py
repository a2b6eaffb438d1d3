"""The flood gate over a real Redis: the budget per chat, shared by every process, each message once."""

from __future__ import annotations

from datetime import UTC

import pytest

from bot.inbox.flood import FloodGate, Verdict
from city.connection import RedisClient
from city.flood import Flood
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident

H, N, D = Verdict.HANDLE, Verdict.NOTICE, Verdict.DROP
THREE_IN_TEN = Flood(messages=3, seconds=10)
ERIKA = Resident(Channel.TELEGRAM, "4711")
MAX = Resident(Channel.WHATSAPP, "4915112345678")


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    return Keys(key_prefix)


async def verdicts(gate: FloodGate, times: list[float], resident: Resident = ERIKA) -> list[Verdict]:
    return [await gate.admit(resident, at, f"m{n}") for n, at in enumerate(times)]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0, 1, 2], [H, H, H]),  # within the budget
        ([0, 1, 2, 3], [H, H, H, N]),  # one over: one notice
        ([0, 0, 0, 0, 0, 0], [H, H, H, N, D, D]),  # then silence
        ([0, 1, 2, 10.5, 11, 12], [H, H, H, H, H, H]),  # spread out: never over
        ([0, 1, 2, 3, 4, 20, 21], [H, H, H, N, D, H, H]),  # calmed down: answered again
        ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [H, H, H, N] + [D] * 8),  # a steady flooder stays quiet
        ([0, 1, 2, 3, 25, 26, 27, 28], [H, H, H, N, H, H, H, N]),  # a second flood gets a second notice
    ],
)
async def test_the_budget_counts_every_message_within_the_window(
    redis: RedisClient, keys: Keys, times: list[float], expected: list[Verdict]
) -> None:
    base = 1_795_000_000.0  # epoch seconds, as the messengers stamp messages
    gate = FloodGate(redis, keys, lambda: THREE_IN_TEN)
    assert await verdicts(gate, [base + t for t in times]) == expected


async def test_chats_are_counted_apart(redis: RedisClient, keys: Keys) -> None:
    gate = FloodGate(redis, keys, lambda: Flood(messages=1, seconds=10))
    found = [await gate.admit(who, 100.0, f"{who.ref}/{n}") for n, who in enumerate((ERIKA, MAX, ERIKA, MAX))]
    assert found == [H, H, N, N]


async def test_two_processes_share_one_budget_per_chat(redis: RedisClient, keys: Keys) -> None:
    """The consumer group spreads a flooder's messages over the processes: together they get the budget."""
    first, second = (FloodGate(redis, keys, lambda: THREE_IN_TEN) for _ in range(2))
    found = [await (first, second)[n % 2].admit(ERIKA, 100.0 + n / 10, f"m{n}") for n in range(6)]
    assert found == [H, H, H, N, D, D]


async def test_a_message_handled_again_counts_once(redis: RedisClient, keys: Keys) -> None:
    """After a crash another process handles the same inbox entry again: it takes no second place."""
    gate = FloodGate(redis, keys, lambda: THREE_IN_TEN)
    assert [await gate.admit(ERIKA, 100.0, "entry-1/0") for _ in range(5)] == [H] * 5
    assert await verdicts(gate, [101.0, 102.0]) == [H, H]


async def test_a_reloaded_budget_applies_at_once(redis: RedisClient, keys: Keys) -> None:
    budget = Flood(messages=1, seconds=10)
    gate = FloodGate(redis, keys, lambda: budget)
    assert await verdicts(gate, [100.0, 101.0]) == [H, N]
    budget = Flood(messages=5, seconds=10)
    assert await gate.admit(ERIKA, 102.0, "later") is H


async def test_the_window_expires_and_an_erasure_takes_it_at_once(redis: RedisClient, keys: Keys) -> None:
    gate = FloodGate(redis, keys, lambda: Flood(messages=1, seconds=10))
    assert await verdicts(gate, [100.0, 100.5]) == [H, N]
    window, flag = keys.resident_flood(ERIKA), keys.resident_flooding(ERIKA)
    assert 0 < await redis.pttl(window) <= 10_000
    assert 0 < await redis.pttl(flag) <= 10_000
    await Residents(redis, keys, UTC).erase(ERIKA, known_topics=[])
    assert await redis.exists(window, flag) == 0
