"""The crisis scenario of `make bench`: the whole service, as `stadtfunk run` starts it (Telegram webhook
mode), against the stand-in enforcing Telegram's sliding windows (30/s, 1/s per chat).

`python -m benchmarks.crisis_run --redis-url URL --api-url URL --token T [--quick]` prints one JSON line.
An alert goes to N subscribers. For its first seconds nobody talks; then residents write 3 messages each
(`/hilfe`), one resident writes 200 messages at once, and two staff members send `/status` and `/offen` in
turn every 2 s. Every time is the stand-in's or this process's `time.monotonic()` (one clock on Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.engine_run import PREFIX, seed, start_broadcast
from bot.assembly import build_engine, limiter_for
from bot.settings import DEFAULT_CITY_FILE
from bot.storage.client import Storage, open_client
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from broadcasts.model import Priority, State
from city.config import load_city
from city.keys import Keys
from city.residents import Residents

LIMIT = 30.0
AUTHOR = 100004  # feuerwehr-lagedienst, who writes alerts
STAFF = (100001, 100003)  # presse-leitung and presse-freigabe
WRITERS_FROM, FLOODER = 3_000_000, 4_000_000
SECRET = "bench-telegram-secret-0123456789abcdef"  # noqa: S105 (the benchmark's own)
HASH_SECRET = "bench-id-hash-secret-0123456789abcdef"  # noqa: S105
STAFF_EVERY_S = 2.0
FLOOD_BUDGET = 8  # the city file's default flood: {messages: 8, seconds: 10}
CITY = load_city(DEFAULT_CITY_FILE)
KINDS = {AUTHOR: "author", FLOODER: "flooder", **dict.fromkeys(STAFF, "staff")}


@dataclass(frozen=True, slots=True)
class Size:
    subscribers: int
    writers: int
    flood: int
    quiet_s: float  # nobody talks for this long after the release
    spread_s: float  # the residents' first messages fall within this


FULL = Size(subscribers=2000, writers=500, flood=200, quiet_s=10.0, spread_s=30.0)
QUICK = Size(subscribers=600, writers=100, flood=200, quiet_s=6.0, spread_s=8.0)


def update(n: int, chat: int, text: str) -> dict[str, Any]:
    sender = {"id": chat, "is_bot": False, "first_name": "Erika", "language_code": "de"}
    entities = [{"offset": 0, "length": len(text.split(maxsplit=1)[0]), "type": "bot_command"}]
    chat_object = {"id": chat, "first_name": "Erika", "type": "private"}
    message = {"message_id": n, "from": sender, "chat": chat_object, "date": int(time.time()), "text": text,
               "entities": entities}  # fmt: skip
    return {"update_id": 700_000_000 + n, "message": message}


class Load:
    """Posts updates to the service's webhook as Telegram would, noting when each chat wrote."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session, self._url = session, url
        self._n = 0
        self.wrote: dict[str, list[float]] = defaultdict(list)
        self.refused = 0

    async def write(self, chat: int, text: str) -> None:
        """Post one update; like Telegram, again until it is acknowledged (the service may be restarting)."""
        self._n += 1
        self.wrote[str(chat)].append(time.monotonic())
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        body = update(self._n, chat, text)
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with self._session.post(self._url, json=body, headers=headers) as response:
                    if response.status == 200:
                        return
            self.refused += 1
            await asyncio.sleep(0.2)


async def resident(load: Load, chat: int, start: float) -> None:
    await asyncio.sleep(start)
    for _ in range(3):
        await load.write(chat, "/hilfe")
        await asyncio.sleep(1.5)


async def staff_member(load: Load, chat: int, offset: float, stop: asyncio.Event) -> None:
    await asyncio.sleep(offset)
    for command in _alternate():
        if stop.is_set():
            return
        await load.write(chat, command)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STAFF_EVERY_S)


def _alternate() -> Any:
    while True:
        yield "/status"
        yield "/offen"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(redis_url: str, api_url: str, token: str, port: int, data_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(data_dir),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": PREFIX,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "ID_HASH_SECRET": HASH_SECRET,
        "DATA_DIR": str(data_dir),
        "HTTP_PORT": str(port),
        "METRICS_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        # As docs/operations.md asks: a restarted process takes up what it had claimed at once.
        "WORKER_NAME": "crisis-1",
    }


async def ready(session: aiohttp.ClientSession, port: int, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise SystemExit("the service did not become ready")


async def release(redis_url: str, api_url: str, token: str) -> tuple[float, Any]:
    """Approve and release the alert as the desk does (the service's senders take it from Redis); returns
    the release time and an engine to read its progress."""
    redis = await open_client(redis_url)
    storage = Storage(redis, Keys(PREFIX), None)
    session = aiohttp.ClientSession()
    client = TelegramChannel(TelegramAPI(session, api_url, token), LIMIT)
    limiter = limiter_for(storage, client, token.partition(":")[0], 0.01)
    engine = build_engine(storage=storage, city=lambda: CITY, channels=[(client, limiter)],
                          care=Residents(redis, storage.keys, CITY.tz), hasher=IdHasher(HASH_SECRET.encode()),
                          worker="bench-desk", clock=lambda: datetime.now(UTC))  # fmt: skip
    released = time.monotonic()
    text = "Großbrand im Hafen: Fenster schließen"
    alert = await start_broadcast(engine, "feuerwehr", text, Priority.ALERT, author="feuerwehr-lagedienst")
    await engine.settle_planning()
    return released, (engine, alert, session, redis)


class Service:
    """`stadtfunk run` in a process of its own, which the scenario may SIGKILL and start again."""

    def __init__(self, env: dict[str, str], data_dir: Path, port: int) -> None:
        self._env, self._data_dir, self.port = env, data_dir, port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", env=self._env, cwd=self._data_dir
        )
        await ready(session, self.port)

    async def kill_and_restart(self, session: aiohttp.ClientSession, after: float) -> None:
        await asyncio.sleep(after)
        if self.process is not None:
            self.process.kill()
            await self.process.wait()
        await self.start(session)

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.terminate()
        return await self.process.wait()


async def crisis(
    redis_url: str,
    api_url: str,
    token: str,
    size: Size,
    *,
    kill_after: float | None = None,
    log_out: Path | None = None,
) -> dict[str, Any]:
    """The scenario; with `kill_after`, the service is SIGKILLed that many seconds after people start
    writing and started again."""
    await seed(redis_url, size.subscribers, topic="feuerwehr")
    port, data_dir = free_port(), Path(tempfile.mkdtemp(prefix="sf-crisis-"))
    service = Service(service_env(redis_url, api_url, token, port, data_dir), data_dir, port)
    killing = None
    async with aiohttp.ClientSession() as session:
        try:
            await service.start(session)
            await session.post(f"{api_url}/_reset")
            released, (engine, alert, engine_session, redis) = await release(redis_url, api_url, token)
            load = Load(session, f"http://127.0.0.1:{port}/webhooks/telegram")
            await asyncio.sleep(max(0.0, released + size.quiet_s - time.monotonic()))
            talk_from = time.monotonic()
            if kill_after is not None:
                killing = asyncio.create_task(service.kill_and_restart(session, kill_after))
            stop = asyncio.Event()
            chatter = [asyncio.create_task(staff_member(load, chat, i, stop)) for i, chat in enumerate(STAFF)]
            shuffle = random.Random(14)  # noqa: S311 (when residents start writing, not secrecy)
            chatter += [
                asyncio.create_task(resident(load, WRITERS_FROM + n, shuffle.uniform(0, size.spread_s)))
                for n in range(size.writers)
            ]
            for _ in range(size.flood):
                await load.write(FLOODER, "/hilfe")
            while (await engine.progress(alert)).state is not State.DONE:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            alert_done = time.monotonic()
            await asyncio.gather(*chatter[len(STAFF) :])
            await asyncio.sleep(3 * STAFF_EVERY_S)  # staff keep asking a little after the alert
            stop.set()
            await asyncio.gather(*chatter[: len(STAFF)])
            if killing is not None:
                await killing
            await settle(session, api_url)
            async with session.get(f"{api_url}/_log") as response:
                log = await response.json()
            if log_out is not None:
                await asyncio.to_thread(log_out.write_text, json.dumps(log))
            async with session.get(f"{api_url}/_stats") as response:
                stats = await response.json()
            await engine_session.close()
            await redis.aclose()
        finally:
            exit_code = await service.stop()
    return measure(log, load, released, talk_from, alert_done, size) | integrity(log, load, size) | {
        "too_many": stats.get("too_many"), "max_in_window": stats.get("max_in_window"),
        "refused_by": stats.get("refused_by"), "refused": refusals(log),
        "webhook_retries": load.refused, "service_exit": exit_code, "killed_after_s": kill_after,
    }  # fmt: skip


def refusals(log: list[list[Any]]) -> list[str]:
    """Whom the stand-in refused, by kind of chat (never a person's id), for finding what went wrong."""
    kinds = []
    for _, chat, kind in log:
        if kind == "r":
            kinds.append(KINDS.get(int(chat), "writer" if int(chat) >= WRITERS_FROM else "subscriber"))
    return kinds


def integrity(log: list[list[Any]], load: Load, size: Size) -> dict[str, int]:
    """What a kill may cost: residents' messages never answered or answered twice (each `/hilfe` gets one
    answer), subscribers who never got the alert or got it twice."""
    sent: dict[str, int] = defaultdict(int)
    for _, chat, kind in log:
        if kind == "s":
            sent[chat] += 1
    writers = [str(WRITERS_FROM + n) for n in range(size.writers)]
    subscribers = [str(n) for n in range(1, size.subscribers + 1)]
    return {
        "inbound_lost": sum(max(0, len(load.wrote[chat]) - sent[chat]) for chat in writers),
        "answered_twice": sum(max(0, sent[chat] - len(load.wrote[chat])) for chat in writers),
        "alert_lost": sum(sent[chat] == 0 for chat in subscribers),
        "alert_twice": sum(sent[chat] > 1 for chat in subscribers),
    }


async def settle(session: aiohttp.ClientSession, api_url: str, quiet_s: float = 4.0) -> None:
    """Until the stand-in saw nothing new for `quiet_s` (answers still on their way), at most 10 min."""
    last, since, end = -1, time.monotonic(), time.monotonic() + 600
    while time.monotonic() < end:
        async with session.get(f"{api_url}/_stats") as response:
            seen = int((await response.json()).get("requests", 0))
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        await asyncio.sleep(0.5)


def measure(  # noqa: PLR0917 (the run's moments, each named)
    log: list[list[Any]], load: Load, released: float, talk_from: float, alert_done: float, size: Size
) -> dict[str, Any]:
    sends: dict[str, list[float]] = defaultdict(list)
    progress: list[float] = []
    alert: list[float] = []
    subscribers = {str(n) for n in range(1, size.subscribers + 1)}
    for at, chat, kind in log:
        if kind == "r":
            continue
        if chat == str(AUTHOR):
            progress.append(at)
        elif kind == "s" and chat in subscribers:
            alert.append(at)
        elif kind == "s":
            sends[chat].append(at)
    staff = latencies(load, sends, [str(c) for c in STAFF])
    writers = [str(WRITERS_FROM + n) for n in range(size.writers)]
    replies = latencies(load, sends, writers)
    reply_times = [t for chat in [*writers, *map(str, STAFF)] for t in sends[chat] if t <= max(alert)]
    talk_end = max(alert)
    # From a second after the first delivery (the sender's start-up is not the rate) to the first word.
    quiet = [t for t in alert if alert and min(alert) + 1.0 <= t < talk_from]
    quiet_progress = [t for t in progress if quiet and min(quiet) <= t <= max(quiet)]
    talking = [t for t in alert if talk_from + 1.0 <= t <= talk_end]
    return {
        "subscribers": size.subscribers, "writers": size.writers, "flood_messages": size.flood,
        "alert_delivered": len(alert),
        "staff_p99_s": percentile(staff, 99), "staff_answers": len(staff),
        "progress_first_s": min(progress) - released if progress else None,
        "progress_longest_gap_s": max((b - a for a, b in pairwise(sorted(progress))), default=None),
        "progress_updates": len(progress),
        "reply_p50_s": percentile(replies, 50), "reply_p99_s": percentile(replies, 99),
        "replies": len(replies), "replies_expected": 3 * size.writers,
        "reply_share_during_alert": len(reply_times) / (LIMIT * (talk_end - talk_from))
        if talk_end > talk_from else None,
        "flooder_answers": len(sends[str(FLOODER)]), "flood_budget": FLOOD_BUDGET,
        "alert_rate_talking": rate(talking) / LIMIT if len(talking) > 1 else None,
        "alert_rate_quiet": rate(quiet) / LIMIT if len(quiet) > 1 else None,
        "alert_and_progress_rate_quiet": rate(quiet) / LIMIT + len(quiet_progress) / LIMIT / span(quiet)
        if len(quiet) > 1 else None,
        "alert_seconds": max(alert) - min(alert) if alert else None,
        "alert_done_after_s": alert_done - released,
    }  # fmt: skip


def latencies(load: Load, sends: dict[str, list[float]], chats: list[str]) -> list[float]:
    """Per chat, the k-th answer belongs to the k-th message (each command here is answered once)."""
    found: list[float] = []
    for chat in chats:
        answers = deque(sends.get(chat, []))
        for wrote in load.wrote.get(chat, []):
            while answers and answers[0] < wrote:
                answers.popleft()
            if answers:
                found.append(answers.popleft() - wrote)
    return found


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def rate(times: list[float]) -> float:
    return (len(times) - 1) / span(times)


def span(times: list[float]) -> float:
    return max(times) - min(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crisis_run")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kill-after", type=float, help="SIGKILL the service this long after talk starts")
    parser.add_argument("--log-out", type=Path, help="write the stand-in's log here (times and chat ids)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    result = asyncio.run(
        crisis(
            args.redis_url, args.api_url, args.token, size, kill_after=args.kill_after, log_out=args.log_out
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
