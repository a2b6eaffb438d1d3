"""The peers the broadcast engine is measured against: one message to each of N chats, ≤ C in flight.

Runs in `.venv-peers` (python-telegram-bot, aiogram, aiohttp; `make bench` builds it, because aiogram pins
an older pydantic than stadtfunk), so it imports nothing from stadtfunk and each library only inside its
own peer: a peer's peak RSS holds its own library, not the others'.

    python -m benchmarks.peers {ptb,aiogram,aiohttp} --url http://127.0.0.1:P --token T --chats N
    python -m benchmarks.peers versions

prints one JSON line: {"name", "deliveries", "errors", "cpu_s", "wall_s", "rss_mb", "concurrency"}.
cpu_s is this process's user + system CPU time around the send phase only (after imports, client set-up
and one getMe to warm the connection); rss_mb is the process's peak resident set size (VmHWM).

- ptb: a python-telegram-bot `Bot.send_message` loop, with an HTTPXRequest pool of at least 64
  connections (its default of 1 would serialize the sends);
- aiogram: an aiogram `Bot.send_message` loop over an AiohttpSession pointed at the stand-in;
- aiohttp: raw `ClientSession.post` of a JSON body, one shared session, the answer parsed as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from typing import Any

from benchmarks.message import TEXT

FIRST_CHAT = 700_000_000

Send = Callable[[int], Awaitable[None]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This program's peak resident set size. Not ru_maxrss: Linux carries that over exec from the forked
    parent, so a small child of a big runner would report the runner's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def drive(send: Send, chats: Iterable[int], concurrency: int) -> tuple[int, int]:
    """Send to every chat from `concurrency` workers sharing one iterator; (delivered, errors)."""
    pending = iter(chats)
    delivered = errors = 0

    async def worker() -> None:
        nonlocal delivered, errors
        for chat in pending:
            try:
                await send(chat)
            except Exception:  # a failed send is counted, not fatal: the stand-in's stats tell why
                errors += 1
            else:
                delivered += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered, errors


async def measure(name: str, send: Send, chats: int, concurrency: int) -> dict[str, Any]:
    ids = range(FIRST_CHAT, FIRST_CHAT + chats)
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    delivered, errors = await drive(send, ids, concurrency)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return {
        "name": name,
        "deliveries": delivered,
        "errors": errors,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "rss_mb": round(peak_rss_mb(), 1),
        "concurrency": concurrency,
    }


async def run_ptb(url: str, token: str, chats: int, concurrency: int) -> dict[str, Any]:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    request = HTTPXRequest(connection_pool_size=max(64, concurrency), pool_timeout=30.0)
    async with Bot(token, base_url=f"{url}/bot", request=request) as bot:  # initialize() calls getMe

        async def send(chat: int) -> None:
            await bot.send_message(chat_id=chat, text=TEXT)

        return await measure("ptb", send, chats, concurrency)


async def run_aiogram(url: str, token: str, chats: int, concurrency: int) -> dict[str, Any]:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(url), limit=max(64, concurrency))
    bot = Bot(token, session=session)
    try:
        await bot.get_me()

        async def send(chat: int) -> None:
            await bot.send_message(chat_id=chat, text=TEXT)

        return await measure("aiogram", send, chats, concurrency)
    finally:
        await bot.session.close()


async def run_aiohttp(url: str, token: str, chats: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{url}/bot{token}/getMe") as response:
            response.raise_for_status()
        endpoint = f"{url}/bot{token}/sendMessage"

        async def send(chat: int) -> None:
            async with session.post(endpoint, json={"chat_id": chat, "text": TEXT}) as response:
                answer = await response.json()
            if not answer.get("ok"):
                raise RuntimeError(answer.get("description"))

        return await measure("aiohttp", send, chats, concurrency)


PEERS = {"ptb": run_ptb, "aiogram": run_aiogram, "aiohttp": run_aiohttp}


def versions() -> dict[str, str]:
    found = {}
    for package in ("python-telegram-bot", "aiogram", "aiohttp", "pydantic", "httpx"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n")[0])
    parser.add_argument("peer", choices=[*PEERS, "versions"])
    parser.add_argument("--url", help="the stand-in, e.g. http://127.0.0.1:8081")
    parser.add_argument("--token", default="123456:bench-token")
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    options = parser.parse_args(argv)
    if options.peer == "versions":
        print(json.dumps(versions()), flush=True)
        return
    if not options.url:
        parser.error("--url is required")
    result = asyncio.run(PEERS[options.peer](options.url, options.token, options.chats, options.concurrency))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
