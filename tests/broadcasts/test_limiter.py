"""The shared limiter against a real Redis; time is the `now` each test passes, so nothing sleeps."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from bot.storage.client import connect
from broadcasts.limiter import Grant, Limiter, Rate, strict_burst
from city.keys import Keys
from city.values import Channel
from tests.conftest import ManualClock

ROOT = Path(__file__).resolve().parents[2]
PRIVATE, GROUP, RESIDENT = Rate(1), Rate(20, 60), Rate(1, 6)
START = 1_763_800_000.0  # epoch seconds: the script must keep its precision at real magnitudes


@pytest.fixture
def key(key_prefix: str) -> str:
    return Keys(key_prefix).limiter(Channel.TELEGRAM, 123456)


def people(first: int, last: int, rate: Rate = PRIVATE) -> list[tuple[str, Rate]]:
    return [(f"p{n}", rate) for n in range(first, last)]


def allowance(paced: float, width: float, burst: float) -> int:
    """GCRA's promise: any closed window of `width` seconds holds at most this many grants."""
    return math.floor(paced * (width + burst) + 1e-9)


def most_in_window(stamps: list[float], width: float) -> int:
    ordered, start, most = sorted(stamps), 0, 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] > width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_greedy_senders_get_the_rate_less_the_margin(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30))
    paced, steps = 30 * 0.99, random.Random(7)
    now, sent, stamps = START, 0, []
    while now < START + 60:
        grant = await limiter.acquire(now, people(sent, sent + 40))
        count = sum(grant.granted)
        assert grant.granted == (True,) * count + (False,) * (40 - count)
        stamps += [now] * count
        sent += count
        now += steps.uniform(0.0, 0.06)
    assert paced * 60 - paced <= len(stamps) <= paced * 60 + paced
    for width in (0.1, 1.0, 10.0, 60.0):
        assert most_in_window(stamps, width) <= allowance(paced, width, 1.0)
    after_burst = [s for s in stamps if s >= START + 1]
    assert len(after_burst) == pytest.approx(paced * 59, abs=2)


@pytest.mark.parametrize(
    ("rate", "spacing"), [(PRIVATE, 1.0), (GROUP, 3.0), (RESIDENT, 6.0)], ids=["private", "group", "whatsapp"]
)
async def test_a_recipient_waits_for_its_own_rate(
    redis: aioredis.Redis, key: str, clock: ManualClock, rate: Rate, spacing: float
) -> None:
    limiter = Limiter(redis, key, Rate(80))
    chat = ("c0ffee", rate)
    spacing /= 0.99  # paced the margin below its own limit, as the whole budget is
    assert await limiter.acquire_one(clock().timestamp(), chat) == 0.0
    clock.advance(seconds=spacing - 0.25)
    assert await limiter.acquire_one(clock().timestamp(), chat) == pytest.approx(0.25)
    clock.advance(seconds=0.25)
    assert await limiter.acquire_one(clock().timestamp(), chat) == 0.0

    stamps = []
    for _ in range(80):  # ten spacings in steps of an eighth
        clock.advance(seconds=spacing / 8)
        if await limiter.acquire_one(clock().timestamp(), chat) == 0.0:
            stamps.append(clock().timestamp())
    assert len(stamps) == 10
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= spacing - 1e-6


async def test_a_batch_gets_exactly_the_burst_and_when_to_ask_again(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(1000), burst=0.2)
    batch = people(0, 200)
    grant = await limiter.acquire(START, batch)
    assert grant.granted == (True,) * 198 + (False,) * 2  # 0.2 s of 990/s
    assert grant.wait == pytest.approx(1 / 990, abs=1e-6)
    early = await limiter.acquire(START + grant.wait - 10e-6, batch[198:])
    assert early.granted == (False, False)
    on_time = await limiter.acquire(START + grant.wait, batch[198:])
    assert on_time.granted == (True, False)


async def test_refused_recipients_cost_no_budget(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(10), margin=0.0)  # a burst of exactly 10
    assert (await limiter.acquire(START, people(0, 5))).granted == (True,) * 5
    grant = await limiter.acquire(START, people(0, 15))
    assert grant.granted == (False,) * 5 + (True,) * 5 + (False,) * 5
    assert grant.wait == pytest.approx(0.1)  # the budget, not the 1 s the first five need
    assert await redis.exists(*(f"{key}:r:{suffix}" for suffix, _ in people(10, 15))) == 0


async def test_duplicates_in_one_batch_see_each_other(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30))
    anna, ben = ("anna", RESIDENT), ("ben", RESIDENT)
    grant = await limiter.acquire(START, [anna, anna, ben, anna])
    assert (grant.granted, grant.delays, grant.paced) == ((True, False, True, False), (0.0,) * 4,
                                                          (False, True, False, True))  # fmt: skip
    assert grant.wait == pytest.approx(6.0 / 0.99)


async def test_a_horizon_reserves_tokens_with_the_time_each_may_go(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30), margin=0.01, burst=strict_burst(Rate(30), 0.01), horizon=0.2)
    interval = 1 / 29.7
    assert limiter.burst_tokens == 6
    grant = await limiter.acquire(START, people(1, 9))
    assert grant.granted == (True,) * 6 + (False,) * 2
    assert [round(d, 4) for d in grant.delays[:6]] == [round(k * interval, 4) for k in range(6)]
    # Asking again before the reserved ones went out: the next token is reserved one interval after the
    # last, so the pace does not depend on when a sender gets round to asking.
    later = START + 0.1
    again = await limiter.acquire(later, people(9, 10))
    assert again.granted == (True,)
    assert abs(again.delays[0] - (6 * interval - 0.1)) < 1e-5


async def test_late_sends_push_the_next_grant_by_their_lateness(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30), margin=0.01, burst=strict_burst(Rate(30), 0.01), horizon=0.2)
    interval = 1 / 29.7
    await limiter.acquire(START, people(1, 7))
    # The six reserved sends went out 20 ms late: the next keeps one interval from the last of them.
    pushed = await limiter.acquire(START + 0.1, people(7, 8), push=0.02)
    assert pushed.granted == (True,)
    assert abs(pushed.delays[0] - (6 * interval + 0.02 - 0.1)) < 1e-5
    # The push stays in the shared budget: whoever asks next is behind it too.
    after = await limiter.acquire(START + 0.1, people(8, 9))
    assert abs(after.delays[0] - (7 * interval + 0.02 - 0.1)) < 1e-5


async def test_a_push_alone_is_kept_when_nothing_can_be_granted(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30), margin=0.01, burst=strict_burst(Rate(30), 0.01), horizon=0.0)
    assert (await limiter.acquire(START, people(1, 2))).granted == (True,)
    refused = await limiter.acquire(START, people(2, 3), push=0.05)
    assert refused.granted == (False,)
    assert abs(refused.wait - (1 / 29.7 + 0.05)) < 1e-5, "the wait counts the push"
    assert abs((await limiter.acquire(START, people(3, 4))).wait - (1 / 29.7 + 0.05)) < 1e-5


async def test_reserved_sends_keep_every_window_within_the_limit(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30), margin=0.01, burst=strict_burst(Rate(30), 0.01), horizon=0.25)
    now, stamps, chat = START, [], 0
    while now < START + 20:
        grant = await limiter.acquire(now, people(chat + 1, chat + 7))
        chat += 7
        stamps += [now + delay for delay, ok in zip(grant.delays, grant.granted, strict=True) if ok]
        # A sender wakes a little late, as real ones do.
        now += max(grant.wait, max(grant.delays, default=0.0)) + 0.004
    assert most_in_window(stamps, 1.0) <= 30
    assert len(stamps) >= 0.99 * 30 * 20 - 30


async def test_two_processes_share_one_budget(redis: aioredis.Redis, redis_url: str, key: str) -> None:
    other = connect(redis_url, decode_responses=False)  # another process, which may not decode replies
    try:
        one = Limiter(redis, key, Rate(10), margin=0.0)
        two = Limiter(other, key, Rate(10), margin=0.0)
        assert sum((await one.acquire(START, people(0, 6))).granted) == 6
        assert (await two.acquire(START, people(6, 16))).granted == (True,) * 4 + (False,) * 6
        assert await one.acquire_one(START) == pytest.approx(0.1)
        assert await two.acquire_one(START + 0.1) == 0.0
    finally:
        await other.aclose()


async def test_state_is_one_slot_of_hashes_and_expires(
    redis: aioredis.Redis, key: str, key_prefix: str
) -> None:
    limiter = Limiter(redis, key, Rate(30))
    suffix = hashlib.blake2b(b"chat 4711", key=b"secret", digest_size=16).hexdigest()
    assert await limiter.acquire_one(START, (suffix, RESIDENT)) == 0.0
    # First, while the time to live has barely run.
    assert 1000 < await redis.pttl(key) <= math.ceil(1000 / 29.7 + 1000)  # TAT + burst
    recipient = f"{key}:r:{suffix}"
    # The lanes' hash holds only when a class last asked and its own pace, nothing about a person.
    lanes = f"{key}:lanes"
    assert {k async for k in redis.scan_iter(match=f"{key_prefix}:*")} == {key, recipient, lanes}
    assert {k: float(v) for k, v in (await redis.hgetall(lanes)).items()} == {"talk": START * 1000}
    assert key_slot(key.encode()) == key_slot(lanes.encode())
    assert 0 < await redis.pttl(lanes) <= 2000
    assert key_slot(key.encode()) == key_slot(recipient.encode())
    stored = cast(str, await redis.get(recipient))
    assert float(stored) == pytest.approx(START * 1000 + 6000 / 0.99)  # a time, nothing about the person
    assert 11_000 < await redis.pttl(recipient) <= 12_200  # TAT + one interval


async def test_an_empty_batch_asks_nothing(redis: aioredis.Redis, key: str) -> None:
    assert await Limiter(redis, key, Rate(30)).acquire(START, []) == Grant((), 0.0)
    assert await redis.exists(key) == 0


def test_nonsense_is_refused_early() -> None:
    with pytest.raises(ValueError, match="positive"):
        Rate(0)
    with pytest.raises(ValueError, match="less than one message"):
        Limiter(aioredis.Redis(), "k", Rate(1), burst=0.5)
    with pytest.raises(ValueError, match="fraction"):
        Limiter(aioredis.Redis(), "k", Rate(1), margin=1.0)


# Each process hammers the limiter on wall-clock time, from a start the test gives it once both are
# ready (so slow interpreter start-up cannot spoil the overlap), and prints its grant times.
HAMMER = """
import asyncio, json, sys, time
from bot.storage.client import connect
from broadcasts.limiter import Limiter, Rate

async def main(url, key, name):
    client = connect(url, decode_responses=False)
    limiter, stamps = Limiter(client, key, Rate(500), burst=0.05), []
    await client.ping()
    print("ready", flush=True)
    start, until = map(float, sys.stdin.readline().split())
    while time.time() < start:
        await asyncio.sleep(0.001)
    while (now := time.time()) < until:
        grant = await limiter.acquire(now, [(f"{name}{len(stamps) + i}", Rate(1)) for i in range(20)])
        stamps += [now] * sum(grant.granted)
    await client.aclose()
    print(json.dumps(stamps))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_real_processes_together_keep_the_pace(redis: aioredis.Redis, redis_url: str, key: str) -> None:
    pipe = asyncio.subprocess.PIPE
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", HAMMER, redis_url, key, name, cwd=ROOT, stdin=pipe, stdout=pipe
        )
        for name in ("a", "b")
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 20) == b"ready\n"
    start = time.time() + 0.05
    until = start + 1.5
    told = f"{start} {until}\n".encode()
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate(told) for p in processes)), 20)
    assert [p.returncode for p in processes] == [0, 0]
    each = [json.loads(out) for out, _ in outputs]
    assert all(len(stamps) > 0 for stamps in each)
    stamps = each[0] + each[1]
    paced = 500 * 0.99
    for width in (0.01, 0.1, 1.0):
        assert most_in_window(stamps, width) <= allowance(paced, width, 0.05)
    assert len(stamps) / (until - start) >= 0.95 * paced


async def test_a_push_alone_moves_the_budget_and_grants_nothing(redis: aioredis.Redis, key: str) -> None:
    limiter = Limiter(redis, key, Rate(30), margin=0.01, burst=strict_burst(Rate(30), 0.01), horizon=0.0)
    assert (await limiter.acquire(START, people(1, 2))).granted == (True,)
    await limiter.push(START, 0.02)
    assert abs((await limiter.acquire(START, people(2, 3))).wait - (1 / 29.7 + 0.02)) < 1e-5
    assert not await redis.hexists(f"{key}:lanes", "talk"), "a push is no ask: nobody counts as talking"
