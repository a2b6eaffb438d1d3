"""`python -m benchmarks.correction_run --redis-url URL [--recipients N] [--memory M]`: how long a correction
takes to reach everyone who got a broadcast, beside the broadcast itself, at each platform's limit; and
the Redis bytes each delivery's kept message id costs. Prints one JSON line.

Time is virtual: the engine, the limiter and the stand-ins (tests/fakes: the Bot API's 30/s and 1/s per
chat, the Cloud API's 80/s and pair rate, each over sliding windows) share one clock that moves only when
every sender waits, so the figures are the schedule the limits allow, free of this machine's load. Edits
count against the same limits as sends: on Telegram a correction is an edit and a note per recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from benchmarks.engine_run import PREFIX, seed
from bot.assembly import build_engine, limiter_for
from bot.settings import DEFAULT_CITY_FILE
from bot.storage.client import Storage, open_client
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from bot.whatsapp.api import WhatsAppAPI
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.marks import WhatsAppMarks
from broadcasts.channel import ChannelClient, Message, Sent
from broadcasts.engine import Engine
from broadcasts.model import Amendment, Broadcast, Priority, State
from city.config import load_city
from city.connection import RedisClient
from city.keys import Keys
from city.residents import Residents
from city.values import Channel
from tests.conftest import ManualClock
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_objects import RateRule

CITY = load_city(DEFAULT_CITY_FILE)
TOKEN = "123456:bench"  # noqa: S105
SECRET = b"bench-secret-of-sixteen-bytes"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Realistic sizes for the memory figure: a Telegram user id and message id, a German mobile number and a
# wamid as the Cloud API gives them.
TELEGRAM_CHAT, TELEGRAM_REF = 6_123_456_789, 184_467
SPAWN_TURNS, EPSILON_S = 5, 1e-6
PLANNING_TURNS = 1_000_000
WAMID = "wamid.HBgNNDkxNTEwMDAwMTExMRUCABEYEjQ0QkQ1RkQwRjI1NjQ2QTkyAA=="


async def timed(recipients: int, redis_url: str, channel: Channel) -> dict[str, Any]:
    """Send a broadcast to `recipients`, then its correction; virtual seconds each took to reach all."""
    redis = await open_client(redis_url)
    await _forget_earlier(redis)
    clock = ManualClock(START)
    storage = Storage(redis, Keys(PREFIX), None)
    await seed(redis_url, recipients, "feuerwehr", 1, channel=channel)
    stamp = lambda: clock().timestamp()  # noqa: E731
    async with (
        FakeTelegram(token=TOKEN, clock=stamp, rate_limit=RateRule()) as tg,
        FakeGraph(token=TOKEN, clock=stamp) as graph,
        aiohttp.ClientSession() as session,
    ):
        platform: ChannelClient
        if channel is Channel.WHATSAPP:
            api = WhatsAppAPI(session, graph.url, graph.version, graph.phone_number_id, TOKEN)
            marks = WhatsAppMarks(redis, storage.keys, IdHasher(SECRET))
            platform = WhatsAppChannel(api, graph.rate, marks, lambda: CITY, clock)
        else:
            platform = TelegramChannel(TelegramAPI(session, tg.url, TOKEN), 30)
        client = Counted(platform)
        sleeps = VirtualSleep(clock, client)
        engine = build_engine(
            storage=storage,
            city=lambda: CITY,
            channels=[(client, limiter_for(storage, client, "bench", 0.01))],
            care=Residents(redis, storage.keys, CITY.tz),
            hasher=IdHasher(SECRET),
            worker="bench",
            clock=clock,
            sleep=sleeps,
        )
        original = await _approved(engine, clock(), "Großbrand im Hafen: Fenster schließen.")
        original_s = await _sent(engine, redis, original, clock, sleeps)
        correction = await _approved(
            engine, clock(), "Großbrand im Nordhafen: Fenster schließen.", follows=original.id
        )
        correction_s = await _sent(engine, redis, correction, clock, sleeps)
        refused = tg.too_many if channel is Channel.TELEGRAM else sum(graph.refusals.values())
        calls = len(tg.calls) if channel is Channel.TELEGRAM else len(graph.calls)
    progress = await engine.progress(correction.id)
    await redis.aclose()
    return {
        "recipients": recipients,
        "original_s": original_s,
        "correction_s": correction_s,
        "ratio": correction_s / original_s,
        "correction_sends": sum(c.sent for c in progress.channels.values()),
        "calls": calls,
        "refused": refused,
        "limit_per_s": client.pacing.overall.count / client.pacing.overall.per,
    }


class Counted:
    """A channel client that knows how many of its sends are on their way."""

    def __init__(self, client: ChannelClient) -> None:
        self._client = client
        self.channel = client.channel
        self.pacing = client.pacing
        self.on_the_way = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def send(self, chat_id: str, message: Message) -> Sent:
        self.on_the_way += 1
        self.idle.clear()
        try:
            return await self._client.send(chat_id, message)
        finally:
            self.on_the_way -= 1
            if not self.on_the_way:
                self.idle.set()

    def is_group(self, chat_id: str) -> bool:
        return self._client.is_group(chat_id)


class VirtualSleep:
    """Waiting moves the shared clock on once every send already started has been answered (the
    stand-ins answer at once: zero latency), so that each reaches them at the time it was meant for. A
    WhatsApp send first reads its recipient's window in Redis, a round trip to another process: real
    milliseconds may pass before it is answered."""

    def __init__(self, clock: ManualClock, client: Counted) -> None:
        self._clock = clock
        self._client = client

    async def __call__(self, seconds: float) -> None:
        for _ in range(SPAWN_TURNS):  # the batches just spawned reach the client's send
            await asyncio.sleep(0)
        await self._client.idle.wait()
        # A hair later than asked: a reserved time is an epoch timestamp in floating point, and landing
        # 0.2 µs early would meet a stand-in's sliding window a hair too soon.
        self._clock.advance(seconds=seconds + EPSILON_S)


async def _approved(engine: Engine, now: datetime, text: str, follows: str = "") -> Broadcast:
    draft = Broadcast(
        id="",
        topics=("feuerwehr",),
        text_de=text,
        author="feuerwehr-lagedienst",
        created_at=now,
        priority=Priority.ALERT,
        follows=follows,
        amends=Amendment.CORRECTION if follows else None,
    )
    created = await engine.store.create(draft)
    await engine.store.approve(created.id, created.version, "presse-freigabe")
    return created


async def _sent(
    engine: Engine,
    redis: RedisClient,
    broadcast: Broadcast,
    clock: ManualClock,
    sleep: Callable[[float], Awaitable[None]],
) -> float:
    """From enqueueing to the broadcast's end, stepping the senders in virtual time."""
    began = clock()
    await engine.enqueue(broadcast.id)
    for _ in range(PLANNING_TURNS):  # planning runs in the background; it takes no virtual time
        if (await engine.progress(broadcast.id)).planned:
            break
        await asyncio.sleep(0)
    while (await engine.store.state(broadcast.id)) is not State.DONE:
        waits = [wait for sender in engine.senders if (wait := await sender.step()) is not None]
        if waits and min(waits) > 0:
            await sleep(min(waits))
    return (clock() - began).total_seconds()


async def bytes_per_delivery(redis_url: str, deliveries: int) -> dict[str, float]:
    """Redis memory of one broadcast's kept message ids, per delivery, as the settle script writes them."""
    redis = await open_client(redis_url)
    await _forget_earlier(redis)
    keys = Keys(PREFIX)
    found: dict[str, float] = {}
    for channel in (Channel.TELEGRAM, Channel.WHATSAPP):
        key = keys.broadcast_message_ids("1", channel)
        for start in range(0, deliveries, 1000):
            mapping: dict[Any, Any] = {
                _chat(channel, n): _ref(channel, n) for n in range(start, min(start + 1000, deliveries))
            }
            await redis.hset(key, mapping=mapping)
        # Every field counted (SAMPLES 0), with the key's own overhead spread over the deliveries.
        found[channel.value] = int(await redis.memory_usage(key, samples=0) or 0) / deliveries
        await redis.delete(key)
    await redis.aclose()
    return found


async def _forget_earlier(redis: RedisClient) -> None:
    """What an earlier run left under the benchmark's prefix (and nothing else: tests share the server)."""
    async for key in redis.scan_iter(match=Keys(PREFIX).pattern(), count=1000):
        await redis.delete(key)


def _chat(channel: Channel, n: int) -> str:
    return str(TELEGRAM_CHAT + n) if channel is Channel.TELEGRAM else f"49151{n:08d}"


def _ref(channel: Channel, n: int) -> str:
    return str(TELEGRAM_REF + n) if channel is Channel.TELEGRAM else f"{WAMID[:-12]}{n:010d}=="


async def run(redis_url: str, recipients: int, memory: int) -> dict[str, Any]:
    return {
        "telegram": await timed(recipients, redis_url, Channel.TELEGRAM),
        "whatsapp": await timed(recipients, redis_url, Channel.WHATSAPP),
        "bytes_per_delivery": await bytes_per_delivery(redis_url, memory),
        "memory_deliveries": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.correction_run")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--memory", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.redis_url, args.recipients, args.memory))))


if __name__ == "__main__":
    main()
