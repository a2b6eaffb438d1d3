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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

from city.connection import RedisClient

# KEYS[1] is the global TAT, KEYS[2] the lanes' hash, KEYS[2 + i] recipient i's; the caller builds them
# all under one hash tag. ARGV: now, global T, global tolerance, horizon, every recipient's T joined by
# ";", a push (how much later than planned the caller's last sends went out, added to the global TAT
# before granting so that the next sends keep their distance from those), the lane, the reply share,
# the quiet time after which a class counts as idle, and the earliest a grant may go out (from now: a
# send due at a known time asks a horizon early and gets the first slot from then). Times in
# milliseconds (the recipients' in one argument instead of one each: encoding arguments is a send's main
# Redis cost).
# Replies {wait in µs, then per delivery 0 (refused by the budget), -1 (refused by its own pacing) or
# 1 + µs from now until it may go out}. Without recipient keys it asks for one global token.
#
# The lanes: 1 staff, 2 resident replies, 3 alerts, 4 news, 5 digests. Every send takes the next slot of
# the one global schedule, so no lane ever borrows budget. While resident replies asked within the
# quiet time, broadcasts (3-5) may take at most (1 - share) of the slots; while broadcasts asked within
# it, resident replies at most the share. Each cap is a token count apart from the slots (a class's own
# TAT moved from now, never from the slot), so the slots one class leaves are the other's, and none is
# lost. Staff take slots uncapped, counted against the reply share while a broadcast runs: they
# overtake residents, never the broadcasts' part. The order among broadcasts is the sender's (the most
# urgent broadcast asks first).
_SCRIPT = """
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local horizon, push = tonumber(ARGV[4]), tonumber(ARGV[6] or 0)
local lane, share, quiet = tonumber(ARGV[7] or 4), tonumber(ARGV[8] or 0), tonumber(ARGV[9] or 0)
local earliest = tonumber(ARGV[10] or 0)
local intervals = {}
for value in string.gmatch(ARGV[5] or "", "[^;]+") do intervals[#intervals + 1] = tonumber(value) end
-- Epoch milliseconds carry only ~0.25 µs of float precision; 1 µs of slack keeps exact budgets exact.
local EPS = 0.001
-- Offsets from now stay small numbers, so the walk adds exactly; only stored TATs get rounded.
local function ahead(key)
  local tat = tonumber(redis.call('GET', key) or now)
  return math.max(tat - now, 0)
end
local lanes = redis.call('HMGET', KEYS[2], 'talk', 'bulk', 'talk_tat', 'bulk_tat')
local function recent(at) return at ~= nil and now - at < quiet end
local talking, bulk_running = recent(tonumber(lanes[1])), recent(tonumber(lanes[2]))
local bulk = lane >= 3
local capped, counted, class_interval = false, false, 0
if share > 0 and share < 1 then
  if bulk and talking then
    capped, counted, class_interval = true, true, interval / (1 - share)
  elseif lane >= 1 and lane <= 2 and bulk_running then
    capped, counted, class_interval = lane == 2, true, interval / share
  end
end
local class_field = bulk and 'bulk_tat' or 'talk_tat'
local class_ahead = 0
if counted then class_ahead = math.max((tonumber(lanes[bulk and 4 or 3]) or now) - now, 0) end
-- A class gets at least one token per its interval, however long that is.
local class_room = math.max(tolerance + horizon, class_interval)
local global, own, steps, flags = ahead(KEYS[1]) + push, {}, {}, {}
-- Lane 0 only pushes: a send went out late, and the budget moves on at once.
local deliveries = lane == 0 and 0 or math.max(#KEYS - 2, 1)
local granted, stopped, own_wait = false, false, nil
local class_stopped = false
for i = 1, deliveries do
  local key = KEYS[i + 2]
  if key and own[key] == nil then own[key] = ahead(key) end
  flags[i] = 0
  -- A send due at a known time (`earliest`, or its recipient's own next time if later) takes the first
  -- slot from then on: asked a horizon early, that is the one right after the slots the broadcasts
  -- reserved meanwhile (a slot skipped between the two is lost, once).
  local start = earliest
  if key and earliest > 0 then start = math.max(earliest, own[key]) end
  local from = math.max(global, start)
  local not_before = math.max(from + interval - tolerance, start, 0)
  if key and (own[key] > start + EPS or start > horizon + EPS) then
    -- Refused by its own pacing (tolerance = one interval, so no bursts per person), or due beyond the
    -- horizon; costs nothing, and waits out of line.
    local again = own[key] > start + EPS and own[key] or start - horizon
    own_wait = math.min(own_wait or again, again)
    flags[i] = -1
  elseif not_before > horizon + EPS then
    stopped = true
    break
  elseif capped and class_ahead + class_interval > class_room + EPS then
    class_stopped = true
    break
  else
    -- Within the horizon a token is reserved for later: it may go out once it is within the
    -- tolerance. Pacing from the reserved time, not from a late re-ask, keeps the rate exact.
    global, granted, flags[i] = from + interval, true, 1 + math.ceil(not_before * 1000)
    if counted then class_ahead = class_ahead + class_interval end
    if key then
      own[key] = math.max(own[key], not_before) + intervals[i]
      steps[key] = intervals[i]
    end
  end
end
for i = #flags + 1, deliveries do flags[i] = 0 end
-- Wait until asking again can grant one of the refused: the one the budget stopped at needs only
-- budget (or its class's next token), the others need their own time and budget.
local budget_wait = math.max(global + interval - tolerance, earliest - horizon, 0)
if class_stopped then budget_wait = math.max(class_ahead + class_interval - class_room, 0) end
local wait = 0
if stopped or class_stopped then
  wait = budget_wait
elseif own_wait then
  wait = math.max(own_wait, budget_wait)
end
-- State past its TAT means "idle", so keys expire then (plus the tolerance, for processes whose clocks
-- lag a little); recipient keys hold only a time under a keyed hash and vanish on their own.
local function store(key, ahead_ms, ttl_ms)
  redis.call('SET', key, string.format('%.17g', now + ahead_ms), 'PX', math.max(math.ceil(ttl_ms), 1))
end
if granted or push > 0 then store(KEYS[1], global, global + tolerance) end
for key, step in pairs(steps) do store(key, own[key], own[key] + step) end
-- Who asked, and the class's own TAT: kept for the quiet time, so an idle class frees its share.
if lane >= 2 or counted then
  local fields = {}
  if lane >= 2 then
    fields[#fields + 1] = bulk and 'bulk' or 'talk'
    fields[#fields + 1] = string.format('%.17g', now)
  end
  if counted then
    fields[#fields + 1] = class_field
    fields[#fields + 1] = string.format('%.17g', now + class_ahead)
  end
  redis.call('HSET', KEYS[2], unpack(fields))
  redis.call('PEXPIRE', KEYS[2], math.ceil(math.max(quiet, class_ahead) + tolerance + horizon))
end
table.insert(flags, 1, math.ceil(wait * 1000))
return flags
"""

DEFAULT_REPLY_SHARE = 0.10
# Below this a cap would starve the lane it holds back; above it replies could halve an alert.
SHARE_RANGE = (0.01, 0.5)
# How long a class that stopped asking still holds its share: "within a second" of the last reply,
# broadcasts have the whole limit back.
QUIET_S = 1.0
# A reserved send that would leave this much after its time is not sent late but granted again.
LATE_S = 0.05
# A reserved send that leaves more than this late (the event loop or the machine held it up) moves the
# next grant that much later: under a sliding window, sends that bunch up behind a late one would exceed
# the limit a second later. Less than this is within the margin's slack.
SHIFT_AFTER_S = 0.003


# The least `earliest` a `not_before` is sent as: Lua tells an ask with one by a positive value.
MIN_EARLIEST_S = 1e-6


class Lane(IntEnum):
    """Who asks for a send, most urgent first (see the script's note on lanes)."""

    PUSH = 0  # no send: only moves the budget after a late one
    STAFF = 1  # staff commands and desk notices, the live progress message
    REPLY = 2  # answers to residents
    ALERT = 3
    NEWS = 4
    DIGEST = 5


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
    # Per delivery, whether it was refused by its recipient's own pacing rather than by the budget.
    paced: tuple[bool, ...] = ()


class Limiter:
    """One shared budget: `rate` less a safety `margin` overall, plus each recipient's own rate, in lanes.

    `burst` is how many seconds' worth of tokens one may take at once (the GCRA tolerance), so that a
    batch goes out in one round trip. The price: any window of W seconds holds up to
    rate·(1 - margin)·(W + burst) sends; 1 s at the default burst may briefly see twice the rate, as
    with python-telegram-bot's own limiter. `strict_burst` gives strict pacing under a sliding window.
    `share` gives the reply lanes' reserved part of the rate while broadcasts run (the city's
    `reply_share`, read at every ask so that a reload takes effect).
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
        share: Callable[[], float] = lambda: DEFAULT_REPLY_SHARE,
        quiet: float = QUIET_S,
    ) -> None:
        if not 0 <= margin < 1:
            raise ValueError(f"the margin is a fraction of the rate, not {margin}")
        self._interval_ms = rate.interval * 1000 / (1 - margin)
        # Each recipient is paced the same margin below its own limit: a send that leaves a few ms late
        # must not make the next one to that chat, on time, look too early to a sliding window.
        self._margin = margin
        if burst * 1000 < self._interval_ms:
            raise ValueError(f"a burst of {burst} s holds less than one message at {rate}")
        self._key = key
        self._lanes = f"{key}:lanes"
        self._burst = burst
        self._share = share
        self._quiet_ms = quiet * 1000
        # How far ahead `acquire` reserves tokens, each with the time it may go out: a sender that asks
        # early and waits for the reserved time loses nothing to its own round trips.
        self.horizon = horizon
        # Whole messages one grant can hold: the batch size worth claiming from the queue.
        self.burst_tokens = int((burst + horizon) * 1000 / self._interval_ms + 1e-9)
        self._script = redis.register_script(_SCRIPT)

    async def acquire(
        self,
        now: float,
        recipients: Sequence[tuple[str, Rate]],
        *,
        lane: Lane = Lane.NEWS,
        push: float = 0.0,
        not_before: float | None = None,
    ) -> Grant:
        """Grant what may go out now, in order: refused recipients are skipped, an empty budget stops.

        Each recipient is (keyed hash, its own rate); never pass a raw chat id. `push` moves the budget
        that many seconds later first: the caller's reserved sends went out that much late, and the
        next ones must keep their distance from them, or a sliding window would see them bunched.
        `not_before` (epoch seconds) reserves the first slot from then on, for a send due at a known
        time: asked up to a horizon before, it is not put behind what broadcasts reserved meanwhile.
        """
        if not recipients:
            return Grant((), 0.0)
        # Any `not_before`, even one passed, asks for the first slot from a time: its recipient's own next
        # time is then reserved too, if it lies within the horizon (a plain ask is refused until then).
        earliest = max(MIN_EARLIEST_S, not_before - now) if not_before is not None else 0.0
        return await self._run(now, recipients, lane, self.horizon, push, earliest=earliest)

    async def push(self, now: float, seconds: float) -> None:
        """A send went out `seconds` late: move the budget that much later now, not only with the next
        grant of whoever sent it (a reply's next grant may be far off while others send on time)."""
        if seconds > 0:
            await self._run(now, [], Lane.PUSH, 0.0, seconds)

    async def acquire_one(
        self, now: float, recipient: tuple[str, Rate] | None = None, *, lane: Lane = Lane.REPLY
    ) -> float:
        """0.0 when one send (to `recipient`, or to no one in particular) may go out now, else the wait."""
        grant = await self._run(now, [recipient] if recipient is not None else [], lane, 0.0)
        return 0.0 if grant.granted[0] else grant.wait

    async def _run(
        self,
        now: float,
        recipients: Sequence[tuple[str, Rate]],
        lane: Lane,
        horizon: float,
        push: float = 0.0,
        *,
        earliest: float = 0.0,
    ) -> Grant:
        if push < 0:
            raise ValueError("a push takes budget; it cannot be negative")
        keys = [self._key, self._lanes, *(f"{self._key}:r:{suffix}" for suffix, _ in recipients)]
        args: list[float | str] = [now * 1000, self._interval_ms, self._burst * 1000, horizon * 1000]
        args += [";".join([_milliseconds(rate, self._margin) for _, rate in recipients]), push * 1000]
        args += [int(lane), self._share(), self._quiet_ms, earliest * 1000]
        wait_us, *flags = cast(list[int], await self._script(keys=keys, args=args))
        delays = tuple(max(flag - 1, 0) / 1_000_000 for flag in flags)
        return Grant(
            tuple(flag > 0 for flag in flags), wait_us / 1_000_000, delays, tuple(f < 0 for f in flags)
        )


@functools.cache
def _milliseconds(rate: Rate, margin: float) -> str:
    return repr(rate.interval * 1000 / (1 - margin))


def strict_burst(rate: Rate, margin: float) -> float:
    """The burst that keeps every sliding window of `rate.per` within `rate` with the whole margin to spare:
    one message, as a grant always holds at least one.

    With a tolerance of one interval nothing goes early: every send keeps its paced distance, and the
    whole margin is spare for the jitter between our clock and the platform's stamps (10 ms per second at
    the default 1 %). A longer burst would be paid from the margin: at a 10 % margin a burst of the
    margin's whole share (0.11 s, four sends at once at 30/s) filled the first second to exactly 30, and
    a few milliseconds of jitter made a 31st.
    """
    # A hair over one interval, so that float rounding never makes it less than one message.
    return rate.interval / (1 - margin) * (1 + 1e-9)
