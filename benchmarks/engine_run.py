"""The engine side of `make bench`: one scenario per call, one JSON line on stdout.

The engine runs exactly as `stadtfunk run` wires it (bot.assembly.build_engine, the Telegram
channel client, the shared limiter), against the stand-in of benchmarks/standin.py and a Redis of its
own (one server, or a Cluster: `--redis-url` takes every form REDIS_URL does). Subscribers are written
in the layout city/residents.py keeps, so Redis memory figures are real.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from benchmarks.message import TEXT
from bot.assembly import build_engine, limiter_for
from bot.settings import DEFAULT_CITY_FILE
from bot.storage.client import Storage, open_client
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from bot.whatsapp.api import WhatsAppAPI
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.marks import WhatsAppMarks
from broadcasts.channel import ChannelClient
from broadcasts.engine import Engine
from broadcasts.model import ALL_TOPICS, Broadcast, Priority, State
from broadcasts.progress import Progress
from broadcasts.timeline import Timeline
from city.config import load_city
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident

PREFIX = "bench"
UNLIMITED = 1_000_000.0  # messages/s: "no limits" still goes through the limiter, as in production
TELEGRAM_LIMIT = 30.0
WHATSAPP_LIMIT = 80.0  # WHATSAPP_RATE_LIMIT's default
WHATSAPP_NUMBER_ID = "106540352242922"
WHATSAPP_VERSION = "v26.0"
LIMITS = {"tg": TELEGRAM_LIMIT, "wa": WHATSAPP_LIMIT}
CHANNELS = {"tg": Channel.TELEGRAM, "wa": Channel.WHATSAPP}
SEED_BATCH = 5_000
DEFAULT_MARGIN = 0.01  # RATE_LIMIT_MARGIN's default
CITY = load_city(DEFAULT_CITY_FILE)


@dataclass(frozen=True, slots=True)
class Target:
    redis_url: str
    api_url: str
    token: str


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """VmHWM, not ru_maxrss: the latter is inherited across exec from the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@asynccontextmanager
async def running_engine(
    target: Target, rate: float, worker: str, margin: float = DEFAULT_MARGIN, channel: str = "tg"
) -> AsyncIterator[Engine]:
    redis = await open_client(target.redis_url)
    storage = Storage(redis, Keys(PREFIX), None)
    hasher = IdHasher(b"benchmark-secret-0123456789")
    connector = aiohttp.TCPConnector(limit=80)
    async with aiohttp.ClientSession(connector=connector) as session:
        client: ChannelClient
        if channel == "wa":
            api = WhatsAppAPI(session, target.api_url, WHATSAPP_VERSION, WHATSAPP_NUMBER_ID, target.token)
            marks = WhatsAppMarks(redis, storage.keys, hasher)
            client = WhatsAppChannel(api, rate, marks, lambda: CITY, lambda: datetime.now(UTC))
            account = WHATSAPP_NUMBER_ID
        else:
            client = TelegramChannel(TelegramAPI(session, target.api_url, target.token), rate)
            account = target.token.partition(":")[0]
        limiter = limiter_for(storage, client, account, margin)
        engine = build_engine(
            storage=storage,
            city=lambda: CITY,
            channels=[(client, limiter)],
            care=Residents(redis, storage.keys, CITY.tz),
            hasher=hasher,
            worker=worker,
            clock=lambda: datetime.now(UTC),
        )
        engine.start()
        try:
            yield engine
        finally:
            await engine.stop()
            await redis.aclose()


async def seed(
    redis_url: str,
    count: int,
    topic: str = "verkehr",
    first_chat: int = 1,
    *,
    channel: Channel = Channel.TELEGRAM,
    daily: bool = False,
) -> None:
    """Residents as bot/residents.py stores them: consent record, topics, audience membership (the
    digest readers' audience with `daily`)."""
    redis = await open_client(redis_url)
    keys = Keys(PREFIX)
    consent: dict[Any, Any] = {
        "language": "de",
        "consent_at": datetime.now(UTC).isoformat(),
        "consent_version": "2026-11-01",
    }
    for start in range(first_chat, first_chat + count, SEED_BATCH):
        chats = [str(n) for n in range(start, min(start + SEED_BATCH, first_chat + count))]
        async with redis.pipeline(transaction=False) as pipe:
            for chat in chats:
                resident = Resident(channel, chat)
                pipe.hset(keys.resident(resident), mapping=consent)
                pipe.sadd(keys.resident_topics(resident), topic)
            pipe.sadd((keys.audience_daily if daily else keys.audience)(topic, channel), *chats)
            await pipe.execute()
    # What a running service does once (bot/privacy.py): list who has not agreed to the city's privacy
    # notice as it is now, so that planning news asks that list rather than every record.
    residents = Residents(redis, keys, UTC)
    while not await residents.consents.list_awaiting(consent["consent_version"]):
        continue
    await redis.aclose()


async def start_broadcast(
    engine: Engine, topic: str, text: str, priority: Priority, author: str = "benchmark"
) -> str:
    draft = Broadcast(id="", topics=(topic,), text_de=text, author=author, created_at=datetime.now(UTC),
                      priority=priority)  # fmt: skip
    created = await engine.store.create(draft)
    await engine.store.approve(created.id, created.version, "benchmark")
    await engine.enqueue(created.id)
    return created.id


async def until_done(engine: Engine, broadcast_id: str) -> None:
    # The state lives in Redis, written by whichever process finishes last; look every 50 ms.
    while (await engine.progress(broadcast_id)).state is not State.DONE:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def one_broadcast(target: Target) -> tuple[Progress, float, float]:
    """Send one broadcast to everyone seeded, unlimited; the engine's CPU and wall seconds for it."""
    async with running_engine(target, UNLIMITED, "bench-1") as engine:
        cpu, wall = cpu_seconds(), time.perf_counter()
        # The peers' own text, so that every sender encodes and posts the same message.
        broadcast_id = await start_broadcast(engine, "verkehr", TEXT, Priority.NEWS)
        await until_done(engine, broadcast_id)
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
        return await engine.progress(broadcast_id), cpu, wall


async def zero(target: Target, subscribers: int) -> dict[str, Any]:
    await seed(target.redis_url, subscribers)
    progress, cpu, wall = await one_broadcast(target)
    return {"deliveries": progress.sent, "cpu_s": cpu, "wall_s": wall, "rss_mb": peak_rss_mb()}


async def worker(target: Target, rate: float, seconds: float, name: str) -> dict[str, Any]:
    """A second engine process: sends whatever the shared queues hold until SIGTERM (a clean stop, as
    in production) or `seconds`, then reports its CPU."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    cpu = cpu_seconds()
    async with running_engine(target, rate, name):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
    return {"cpu_s": cpu_seconds() - cpu, "rss_mb": peak_rss_mb()}


async def spawn_worker(target: Target, rate: float, seconds: float) -> asyncio.subprocess.Process:
    command = [sys.executable, "-m", "benchmarks.engine_run", "worker", "--redis-url", target.redis_url,
               "--api-url", target.api_url, "--token", target.token, "--rate", str(rate),
               "--seconds", str(seconds)]  # fmt: skip
    return await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)


async def two_procs(target: Target, subscribers: int) -> dict[str, Any]:
    await seed(target.redis_url, subscribers)
    # The second process sends until well past the end; its CPU is measured over the same span.
    budget = 30.0 + subscribers / 2000
    other = await spawn_worker(target, UNLIMITED, budget)
    progress, cpu, wall = await one_broadcast(target)
    other.terminate()
    output, _ = await other.communicate()
    other_cpu = json.loads(output.decode().strip().splitlines()[-1])["cpu_s"] if output.strip() else 0.0
    return {"deliveries": progress.sent, "cpu_s": cpu + other_cpu, "wall_s": wall,
            "cpu_s_this": cpu, "cpu_s_other": other_cpu}  # fmt: skip


async def limit(
    target: Target, channel: str, seconds: float, processes: int, margin: float = DEFAULT_MARGIN
) -> dict[str, Any]:
    rate = LIMITS[channel]
    await seed(target.redis_url, int(rate * seconds * 1.2) + 100, channel=CHANNELS[channel])
    if channel != "tg" and processes != 1:
        raise SystemExit("two processes at the limit are measured on Telegram only")
    others = [await spawn_worker(target, rate, seconds + 5) for _ in range(processes - 1)]
    async with running_engine(target, rate, "bench-1", margin, channel) as engine:
        broadcast_id = await start_broadcast(engine, "verkehr", "Sperrung der B7", Priority.NEWS)
        await asyncio.sleep(seconds)
        progress = await engine.progress(broadcast_id)
        await engine.cancel(broadcast_id)
    for other in others:
        other.terminate()
        await other.communicate()
    return {"deliveries": progress.sent, "seconds": seconds, "rate": progress.sent / seconds,
            "limit": rate, "processes": processes, "margin": margin}  # fmt: skip


async def alert_latency(target: Target, subscribers: int) -> dict[str, Any]:
    await seed(target.redis_url, subscribers, daily=True)
    await seed(target.redis_url, 10, topic="feuerwehr", first_chat=10_000_000)
    marker = "Eilmeldung"  # the alert header; the stand-in keeps the first 40 characters of each text
    async with running_engine(target, TELEGRAM_LIMIT, "bench-1") as engine:
        digest = await start_digest(target, engine, "verkehr")
        await asyncio.sleep(3.0)  # the digest is well under way
        submitted = time.monotonic()
        await start_broadcast(engine, "feuerwehr", marker, Priority.ALERT)
        first = await first_delivery(target.api_url, marker, deadline=submitted + 30)
        await engine.cancel(digest)
    return {"latency_s": first - submitted if first else None, "digest_subscribers": subscribers}


async def start_digest(target: Target, engine: Engine, topic: str) -> str:
    """The day's digest as the scheduler starts it, over one news item of the day in `topic`: each
    reader's text is composed from the timeline when the digest is planned."""
    now = datetime.now(UTC)
    news = Broadcast(
        id="", topics=(topic,), text_de=TEXT, author="benchmark", created_at=now - timedelta(hours=2)
    )
    news = await engine.store.create(news)
    # Only what was approved goes into a digest, as the version approved.
    await engine.store.approve(news.id, news.version, "benchmark-approver")
    redis = await open_client(target.redis_url)
    await Timeline(redis, Keys(PREFIX), engine.store).record(news, [topic], now - timedelta(hours=1))
    await redis.aclose()
    digest = Broadcast(id=f"digest-{now.date().isoformat()}", topics=(ALL_TOPICS,), text_de="Tagesüberblick",
                       author="system", created_at=now, priority=Priority.DIGEST, state=State.APPROVED,
                       scheduled_for=now, since=now - timedelta(days=1))  # fmt: skip
    await engine.store.create_named(digest)
    await engine.enqueue(digest.id)
    return digest.id


async def first_delivery(api_url: str, marker: str, deadline: float) -> float | None:
    """The stand-in's own time of the first delivery whose text holds `marker`."""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"{api_url}/_stats") as response:
                stats = await response.json()
            hits = [entry["first_ts"] for entry in stats.get("by_text", []) if marker in entry["text"]]
            if hits:
                return float(min(hits))
            await asyncio.sleep(0.02)
    return None


async def redis_memory(redis_url: str, subscribers: int) -> dict[str, Any]:
    redis = await open_client(redis_url)
    before = int((await redis.info("memory"))["used_memory"])
    await seed(redis_url, subscribers)
    after = int((await redis.info("memory"))["used_memory"])
    await redis.aclose()
    return {
        "bytes_per_subscriber": (after - before) / subscribers,
        "subscribers": subscribers,
        "used_memory_mb": after / 2**20,
        "layout": "resident hash + topics set + audience set member",
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_run")
    parser.add_argument(
        "scenario", choices=["zero", "two-procs", "limit", "alert-latency", "redis-memory", "worker"]
    )
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--api-url", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--channel", default="tg")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--rate", type=float, default=UNLIMITED)
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="RATE_LIMIT_MARGIN for `limit`")
    args = parser.parse_args()
    target = Target(args.redis_url, args.api_url, args.token)
    scenarios = {
        "zero": lambda: zero(target, args.subscribers),
        "two-procs": lambda: two_procs(target, args.subscribers),
        "limit": lambda: limit(target, args.channel, args.seconds, args.processes, args.margin),
        "alert-latency": lambda: alert_latency(target, args.subscribers),
        "redis-memory": lambda: redis_memory(args.redis_url, args.subscribers),
        "worker": lambda: worker(target, args.rate, args.seconds, f"bench-worker-{time.time_ns()}"),
    }
    result = asyncio.run(scenarios[args.scenario]())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
