"""The send budget every process shares, per bot token or WhatsApp number, kept in Redis.

It paces with GCRA, the generic cell rate algorithm (ATM networks; the idea behind redis-cell): a
key stores one "theoretical arrival time" (TAT), the moment the budget would be back to empty if
nobody sent any more. A send is allowed when moving the TAT one emission interval T further keeps it
at most a tolerance ahead of now. That is a token bucket without a refill job, in one number per key.

Limits (sources): Telegram's bot FAQ asks for about 30 messages/s overall (paid broadcasts up to
1000/s), 1/s per private chat and 20/min per group; WhatsApp Cloud API numbers start at 80
messages/s, and one resident may get about one message every 6 s (error 131056).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from city.connection import RedisClient

# KEYS[1] is the global TAT, KEYS[1 + i] recipient i's; the caller builds them all under one hash tag.
# ARGV: now, global T, global tolerance, horizon, every recipient's T joined by ";", and a push: how
# much later than planned the caller's last sends went out, added to the global TAT before granting so
# that the next sends keep their distance from those. All in milliseconds (the recipients' in one
# argument instead of one each: encoding arguments is a send's main Redis cost).
# Replies {wait in µs, then per delivery 0 (refused) or 1 + µs from now until it may go out}.
# Without recipient keys it asks for one global token.
_SCRIPT = """
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local horizon, push = tonumber(ARGV[4]), tonumber(ARGV[6] or 0)
local intervals = {}
for value in string.gmatch(ARGV[5] or "", "[^;]+") do intervals[#intervals + 1] = tonumber(value) end
-- Epoch milliseconds carry only ~0.25 µs of float precision; 1 µs of slack keeps exact budgets exact.
local EPS = 0.001
-- Offsets from now stay small numbers, so the walk adds exactly; only stored TATs get rounded.
local function ahead(key)
  local tat = tonumber(redis.call('GET', key) or now)
  return math.max(tat - now, 0)
end
local global, own, steps, flags = ahead(KEYS[1]) + push, {}, {}, {}
local deliveries, granted, stopped, own_wait = math.max(#KEYS - 1, 1), false, false, nil
for i = 1, deliveries do
  local key = KEYS[i + 1]
  if key and own[key] == nil then own[key] = ahead(key) end
  flags[i] = 0
  if key and own[key] > EPS then
    -- Refused by its own pacing (tolerance = one interval, so no bursts per person); costs nothing.
    own_wait = math.min(own_wait or own[key], own[key])
  elseif global + interval > tolerance + horizon + EPS then
    stopped = true
    break
  else
    -- Within the horizon a token is reserved for later: it may go out once it is within the
    -- tolerance. Pacing from the reserved time, not from a late re-ask, keeps the rate exact.
    local not_before = math.max(global + interval - tolerance, 0)
    global, granted, flags[i] = global + interval, true, 1 + math.ceil(not_before * 1000)
    if key then
      own[key] = math.max(own[key], not_before) + intervals[i]
      steps[key] = intervals[i]
    end
  end
end
for i = #flags + 1, deliveries do flags[i] = 0 end
-- Wait until asking again can grant one of the refused: the one the budget stopped at needs only
-- budget, the others need their own time and budget.
local budget_wait = math.max(global + interval - tolerance, 0)
local wait = 0
if stopped then wait = budget_wait elseif own_wait then wait = math.max(own_wait, budget_wait) end
-- State past its TAT means "idle", so keys expire then (plus the tolerance, for processes whose clocks
-- lag a little); recipient keys hold only a time under a keyed hash and vanish on their own.
local function store(key, ahead_ms, ttl_ms)
  redis.call('SET', key, string.format('%.17g', now + ahead_ms), 'PX', math.max(math.ceil(ttl_ms), 1))
end
if granted or push > 0 then store(KEYS[1], global, global + tolerance) end
for key, step in pairs(steps) do store(key, own[key], own[key] + step) end
table.insert(flags, 1, math.ceil(wait * 1000))
return flags
"""


@dataclass(frozen=True, slots=True)
class Rate:
    count: float  # events
    per: float = 1.0  # seconds: Rate(30) is 30/s, Rate(20, 60) is 20/min, Rate(1, 6) is one per 6 s

    def __post_init__(self) -> None:
        if not (self.count > 0 and self.per > 0):
            raise ValueError(f"a rate needs a positive count and period, not {self.count}/{self.per} s")

    @property
    def interval(self) -> float:
        """Seconds between two events when paced evenly: GCRA's emission interval T."""
        return self.per / self.count


@dataclass(frozen=True, slots=True)
class Grant:
    granted: tuple[bool, ...]  # one per requested delivery, in order
    wait: float  # seconds until asking again can grant one of the refused; 0.0 when all were granted
    # Per delivery, seconds from now until a granted one may go out (0.0 without a horizon).
    delays: tuple[float, ...] = ()


class Limiter:
    """One shared budget: `rate` less a safety `margin` overall, plus each recipient's own rate.

    `burst` is how many seconds' worth of tokens one may take at once (the GCRA tolerance), so that a
    batch goes out in one round trip. The price: any window of W seconds holds up to
    rate·(1 - margin)·(W + burst) sends; 1 s at the default burst may briefly see twice the rate, as
    with python-telegram-bot's own limiter. Choose a burst near the batch period for strict pacing.
    `now` comes from the caller (epoch seconds), so processes need synchronised clocks (NTP).
    """

    def __init__(
        self,
        redis: RedisClient,
        key: str,
        rate: Rate,
        *,
        margin: float = 0.01,
        burst: float = 1.0,
        horizon: float = 0.0,
    ) -> None:
        if not 0 <= margin < 1:
            raise ValueError(f"the margin is a fraction of the rate, not {margin}")
        self._interval_ms = rate.interval * 1000 / (1 - margin)
        if burst * 1000 < self._interval_ms:
            raise ValueError(f"a burst of {burst} s holds less than one message at {rate}")
        self._key = key
        self._burst = burst
        # How far ahead `acquire` reserves tokens, each with the time it may go out: a sender that asks
        # early and waits for the reserved time loses nothing to its own round trips.
        self._horizon = horizon
        # Whole messages one grant can hold: the batch size worth claiming from the queue.
        self.burst_tokens = int((burst + horizon) * 1000 / self._interval_ms + 1e-9)
        self._script = redis.register_script(_SCRIPT)

    async def acquire(
        self,
        now: float,
        recipients: Sequence[tuple[str, Rate]],
        *,
        lane_tolerance: float = 0.0,
        push: float = 0.0,
    ) -> Grant:
        """Grant what may go out now, in order: refused recipients are skipped, an empty budget stops.

        Each recipient is (keyed hash, its own rate); never pass a raw chat id. `lane_tolerance` lets
        replies and alerts borrow that many seconds of future budget after bulk sending used the burst:
        the worst-case window then holds rate·(1 - margin)·lane_tolerance more sends, and bulk senders
        wait that much longer afterwards, so the average rate is unchanged. `push` moves the budget
        that many seconds later first: the caller's reserved sends went out that much late, and the
        next ones must keep their distance from them, or a sliding window would see them bunched.
        """
        if not recipients:
            return Grant((), 0.0)
        return await self._run(now, recipients, lane_tolerance, self._horizon, push)

    async def acquire_one(
        self, now: float, recipient: tuple[str, Rate] | None = None, *, lane_tolerance: float = 0.0
    ) -> float:
        """0.0 when one send (to `recipient`, or to no one in particular) may go out, else the wait."""
        grant = await self._run(now, [recipient] if recipient is not None else [], lane_tolerance, 0.0)
        return 0.0 if grant.granted[0] else grant.wait

    async def _run(
        self,
        now: float,
        recipients: Sequence[tuple[str, Rate]],
        lane_tolerance: float,
        horizon: float,
        push: float = 0.0,
    ) -> Grant:
        if lane_tolerance < 0 or push < 0:
            raise ValueError("a lane tolerance adds budget and a push takes it; neither can be negative")
        keys = [self._key, *(f"{self._key}:r:{suffix}" for suffix, _ in recipients)]
        args: list[float | str] = [
            now * 1000,
            self._interval_ms,
            (self._burst + lane_tolerance) * 1000,
            horizon * 1000,
        ]
        args += [";".join([_milliseconds(rate) for _, rate in recipients]), push * 1000]
        wait_us, *flags = cast(list[int], await self._script(keys=keys, args=args))
        delays = tuple(max(flag - 1, 0) / 1_000_000 for flag in flags)
        return Grant(tuple(flag > 0 for flag in flags), wait_us / 1_000_000, delays)


@functools.cache
def _milliseconds(rate: Rate) -> str:
    return repr(rate.interval * 1000)


def strict_burst(rate: Rate, margin: float) -> float:
    """The largest burst that keeps every sliding window of `rate.per` within `rate`.

    Paced at rate·(1 - margin), a window holds rate·(1 - margin)·(per + burst) sends at most, so the
    margin's share is all a burst may take; but a grant always holds at least one message.
    """
    # A hair over one interval, so that float rounding never makes it less than one message.
    paced_interval = rate.interval / (1 - margin) * (1 + 1e-9)
    return max(paced_interval, rate.per * margin / (1 - margin))
