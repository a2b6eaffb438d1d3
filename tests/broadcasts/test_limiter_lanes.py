"""The limiter's lanes against a real Redis, with askers as the sender and the reply pacer ask, in virtual
time: every grant's slot is recorded, and the platform's sliding window is checked over all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from broadcasts.limiter import Lane, Limiter, Rate, strict_burst
from city.keys import Keys
from city.values import Channel
from tests.broadcasts.test_limiter import most_in_window

START = 1_763_800_000.0
LIMIT, MARGIN, HORIZON = Rate(30), 0.01, 0.25
PACED = 30 * (1 - MARGIN)


@pytest.fixture
def limiter(redis: aioredis.Redis, key_prefix: str) -> Limiter:
    key = Keys(key_prefix).limiter(Channel.TELEGRAM, 123456)
    burst = strict_burst(LIMIT, MARGIN)
    return Limiter(redis, key, LIMIT, margin=MARGIN, burst=burst, horizon=HORIZON, share=lambda: 0.10)


@dataclass
class Asker:
    """One kind of sender: asks for `batch` recipients at a time in `lane` while it has work."""

    lane: Lane
    batch: int
    active: list[tuple[float, float]]  # from, until (seconds after START)
    slots: list[float] = field(default_factory=list)
    asked: list[tuple[float, float]] = field(default_factory=list)  # (asked at, slot) per grant
    next_ask: float = START
    chats: int = 0
    due_in: float = 0.0  # > 0: each ask is for a send due this long after it (`not_before`)

    def wants(self, now: float) -> bool:
        return any(START + begin <= now < START + end for begin, end in self.active)

    def next_start(self, now: float) -> float:
        return min((START + begin for begin, _ in self.active if START + begin > now), default=float("inf"))


async def run(limiter: Limiter, askers: list[Asker], seconds: float) -> None:
    """Each asker asks as soon as it may: the sender again after its reserved sends (it waits for them),
    the pacer again at once after a grant (it only reserves) and after the wait when refused."""
    for asker in askers:
        asker.next_ask = asker.next_start(START - 1)
    while True:
        asker = min(askers, key=lambda a: a.next_ask)
        now = asker.next_ask
        if now >= START + seconds:
            return
        if not asker.wants(now):
            asker.next_ask = asker.next_start(now)
            continue
        recipients = [(f"{asker.lane.name}-{asker.chats + n}", Rate(1)) for n in range(asker.batch)]
        not_before = now + asker.due_in if asker.due_in else None
        grant = await limiter.acquire(now, recipients, lane=asker.lane, not_before=not_before)
        slots = [now + d for d, ok in zip(grant.delays, grant.granted, strict=True) if ok]
        asker.chats += len(slots)
        asker.slots += slots
        asker.asked += [(now, slot) for slot in slots]
        if not slots:
            asker.next_ask = now + max(grant.wait, 0.001)
            if not asker.wants(asker.next_ask):
                asker.next_ask = asker.next_start(now)
        elif asker.lane >= Lane.ALERT:
            asker.next_ask = max(slots) + 0.001
        else:
            asker.next_ask = now + 0.001


def rate(slots: list[float], start: float, end: float) -> float:
    return sum(START + start <= s < START + end for s in slots) / (end - start)


async def test_replies_keep_their_share_while_an_alert_runs(limiter: Limiter) -> None:
    alert = Asker(Lane.ALERT, 8, [(0, 20)])
    replies = Asker(Lane.REPLY, 1, [(2, 12)])  # far more to answer than the share: always waiting
    await run(limiter, [alert, replies], 20)
    everything = alert.slots + replies.slots
    assert most_in_window(everything, 1.0) <= 30, "the platform's sliding window holds, no borrowing"
    # While residents talk: the alert has the rest, the replies their share, nothing is lost.
    assert rate(alert.slots, 3, 12) >= 0.9 * PACED - 0.5
    assert rate(replies.slots, 3, 12) == pytest.approx(0.1 * PACED, abs=0.5)
    assert rate(everything, 3, 12) >= PACED - 0.5
    # Before they start and from a second after they stop, the alert has the whole limit.
    assert rate(alert.slots, 0.5, 2) >= PACED - 0.7
    assert rate(alert.slots, 13, 20) >= PACED - 0.3


async def test_broadcasts_get_the_whole_limit_back_within_a_second(limiter: Limiter) -> None:
    news = Asker(Lane.NEWS, 8, [(0, 10)])
    replies = Asker(Lane.REPLY, 1, [(0, 4)])
    await run(limiter, [news, replies], 10)
    last_reply = max(a for a, _ in replies.asked)
    assert last_reply < START + 4
    capped_until = min(s for a, s in news.asked if a >= last_reply + 1.0)
    assert capped_until <= last_reply + 1.0 + HORIZON
    # From then on every slot is the news': the full paced rate.
    assert rate(news.slots, 5.5, 9.5) >= PACED - 0.3
    assert most_in_window(news.slots + replies.slots, 1.0) <= 30


async def test_replies_have_the_whole_limit_when_nothing_is_broadcast(limiter: Limiter) -> None:
    replies = Asker(Lane.REPLY, 1, [(0, 5)])
    await run(limiter, [replies], 5)
    assert rate(replies.slots, 1, 5) >= PACED - 0.3
    assert most_in_window(replies.slots, 1.0) <= 30


async def test_staff_overtake_residents_but_not_the_alerts_part(limiter: Limiter) -> None:
    alert = Asker(Lane.ALERT, 8, [(0, 12)])
    replies = Asker(Lane.REPLY, 1, [(0, 12)])
    # A staff answer every second (to two staff members in turn), each asked for once.
    staff = Asker(Lane.STAFF, 1, [(second, second + 0.0005) for second in range(1, 12)])
    await run(limiter, [alert, replies, staff], 12)
    staff_waits = [slot - asked for asked, slot in staff.asked]
    assert len(staff.slots) == 11
    assert max(staff_waits) <= HORIZON + 1 / PACED, "a staff answer waits at most the reserved horizon"
    everything = alert.slots + replies.slots + staff.slots
    assert most_in_window(everything, 1.0) <= 30
    assert rate(alert.slots, 2, 11) >= 0.9 * PACED - 0.5
    # Staff came out of the reply share: residents got what staff left of it.
    assert rate(replies.slots + staff.slots, 2, 11) == pytest.approx(0.1 * PACED, abs=0.5)


async def test_a_share_from_the_city_is_read_at_every_ask(redis: aioredis.Redis, key_prefix: str) -> None:
    share = [0.10]
    key = Keys(key_prefix).limiter(Channel.TELEGRAM, 7)
    burst = strict_burst(LIMIT, MARGIN)
    limiter = Limiter(redis, key, LIMIT, margin=MARGIN, burst=burst, horizon=HORIZON, share=lambda: share[0])
    alert, replies = Asker(Lane.ALERT, 8, [(0, 10)]), Asker(Lane.REPLY, 1, [(0, 10)])
    share[0] = 0.3
    await run(limiter, [alert, replies], 10)
    assert rate(replies.slots, 1, 10) == pytest.approx(0.3 * PACED, abs=0.6)
    assert rate(alert.slots, 1, 10) >= 0.7 * PACED - 0.6


async def test_a_send_due_at_a_known_time_asked_a_horizon_early_goes_at_that_time(limiter: Limiter) -> None:
    alert = Asker(Lane.ALERT, 8, [(0, 12)])
    # A progress update's next try after a 429, due at 6 s, asked for a horizon before.
    retry = Asker(Lane.STAFF, 1, [(6 - HORIZON, 6 - HORIZON + 0.0005)], due_in=HORIZON)
    await run(limiter, [alert, retry], 12)
    ((asked, slot),) = retry.asked
    # Not before it is due, and then the next slot: not behind what the alert reserved meanwhile.
    assert asked + HORIZON <= slot <= asked + HORIZON + 1 / PACED + 1e-6
    assert most_in_window(alert.slots + retry.slots, 1.0) <= 30
    # The slots between the alert's reservations and the due time are lost, once: a horizon's worth.
    assert len(alert.slots + retry.slots) >= 11 * PACED - HORIZON * PACED - 2


async def test_a_send_due_beyond_the_horizon_waits_out_of_line(limiter: Limiter) -> None:
    chat = ("staff-1", Rate(1))
    grant = await limiter.acquire(START, [chat], lane=Lane.STAFF, not_before=START + 2.0)
    assert grant.granted == (False,)
    assert grant.paced == (True,), "refused as not yet due, not by the budget: others go first"
    assert grant.wait == pytest.approx(2.0 - HORIZON, abs=1e-5)
    # Its chat's own pace counts from its last send: due 0.5 s after it, it may go only a second after it,
    # so it is refused as paced until that is within the horizon, then granted for exactly that time.
    first = await limiter.acquire(START, [chat], lane=Lane.STAFF)
    assert first.granted == (True,)
    paced_until = START + first.delays[0] + 1 / (1 - MARGIN)
    early = await limiter.acquire(START + 0.3, [chat], lane=Lane.STAFF, not_before=START + 0.5)
    assert (early.granted, early.paced) == ((False,), (True,))
    assert START + 0.3 + early.wait == pytest.approx(paced_until - HORIZON, abs=1e-5)
    again = await limiter.acquire(paced_until - HORIZON, [chat], lane=Lane.STAFF, not_before=START + 0.5)
    assert again.granted == (True,)
    assert paced_until - HORIZON + again.delays[0] == pytest.approx(paced_until, abs=1e-5)
