"""SIGKILL with updates in the inbox, in webhook and in polling mode: no update lost, none handled or
answered twice. The service runs as `python -m bot.cli run`, as a deployment runs it, against the Bot API
stand-in, which keeps the answers "in transit" so that at the kill none has reached Telegram yet."""

from __future__ import annotations

import asyncio
import html
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from city.keys import Keys
from tests.conftest import TOKEN
from tests.fakes.telegram_api import FakeTelegram

CHATS = list(range(5001, 5041))
WEBHOOK_SECRET = "crash-webhook-secret-0123456789-abcdefgh"
THANKS = "Danke! Ihre Zustimmung ist gespeichert."


class Runner:
    """Service processes of one deployment: the same Redis, stand-in and worker name."""

    def __init__(self, tg: FakeTelegram, redis_url: str, prefix: str, workdir: Path) -> None:
        self._tg = tg
        self._redis_url = redis_url
        self._prefix = prefix
        self._workdir = workdir
        self._processes: list[asyncio.subprocess.Process] = []

    async def start(self, **settings: str) -> asyncio.subprocess.Process:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("TELEGRAM_", "REDIS_", "WHATSAPP_", "STADTFUNK_", "METRICS_", "HTTP_"))
            },
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self._tg.url,
            "REDIS_URL": self._redis_url,
            "REDIS_KEY_PREFIX": self._prefix,
            "WORKER_NAME": "inbound-1",
            "ID_HASH_SECRET": "crash-test-id-hash-secret-0123456789",
            "DATA_DIR": str(self._workdir / "data"),
            "HTTP_PORT": "0",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "INFO",
            **settings,
        }
        log = (self._workdir / "service.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", env=env, cwd=self._workdir, stdout=log, stderr=log
        )
        log.close()
        self._processes.append(process)
        return process

    async def stop_all(self) -> None:
        for process in self._processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()


@pytest.fixture
async def runner(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[Runner, FakeTelegram]]:
    async with FakeTelegram(token=TOKEN) as tg:
        running = Runner(tg, redis_url, key_prefix, tmp_path)
        yield running, tg
        await running.stop_all()


async def eventually(condition: Callable[[], Awaitable[bool]], within_s: float = 30) -> None:
    """State in another process: look again every 50 ms, for at most `within_s`."""
    async with asyncio.timeout(within_s):
        while not await condition():  # noqa: ASYNC110 (the condition lives in another process)
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def in_transit(tg: FakeTelegram, method: str) -> int:
    return sum(1 for held, _ in tg.held if held == method)


def answered_once_each(tg: FakeTelegram) -> None:
    """Every chat got exactly one answer, and the one of a first handling (a second would thank no more)."""
    for chat in CHATS:
        answers = [html.unescape(text) for text in tg.texts(chat)]
        assert len(answers) == 1, f"chat {chat}: {len(answers)} answers"
        assert answers[0].startswith(THANKS)


async def test_sigkill_in_webhook_mode_loses_no_update_and_answers_each_once(
    runner: tuple[Runner, FakeTelegram], redis: aioredis.Redis, key_prefix: str
) -> None:
    deployment, tg = runner
    tg.dates = time.time  # the service runs on real time
    port = free_port()
    settings = {
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HTTP_PORT": str(port),
    }
    tg.hold("sendMessage", in_transit=True)
    victim = await deployment.start(**settings)
    await eventually(lambda: ready(port))
    updates = [tg.push_message(chat, "/zustimmen") for chat in CHATS]
    for update_id in updates:
        assert await tg.post_to_webhook(update_id) == 200
    # Telegram sends an update again when it took our 200 for lost: stored twice, handled once.
    assert await tg.post_to_webhook(updates[0]) == 200
    await tg.wait_for(lambda t: in_transit(t, "sendMessage") == len(CHATS), timeout=30)
    stream = Keys(key_prefix).telegram_inbox()
    assert await redis.xlen(stream) >= len(CHATS), "nothing is done before its answer is out"

    victim.kill()
    await victim.wait()
    tg.release()  # the answers on their way at the kill never arrive
    assert not tg.sent(None)

    await deployment.start(**settings)
    await eventually(lambda: stream_empty(redis, stream))
    answered_once_each(tg)
    assert not [key async for key in redis.scan_iter(match=f"{key_prefix}:answers:*")], (
        "answers kept once sent"
    )


async def test_sigkill_in_polling_mode_before_the_offset_is_confirmed_answers_each_once(
    runner: tuple[Runner, FakeTelegram], redis: aioredis.Redis, key_prefix: str
) -> None:
    deployment, tg = runner
    tg.dates = time.time
    for chat in CHATS:  # written while the service is down: they wait at Telegram
        tg.push_message(chat, "/zustimmen")
    tg.hold("getUpdates", in_transit=True)
    tg.hold("sendMessage", in_transit=True)
    victim = await deployment.start()
    await tg.wait_for(lambda t: in_transit(t, "getUpdates") == 1, timeout=30)
    tg.release(1)  # the first page: every update
    # Stored and handled; the next getUpdates, which would confirm the page, is on its way.
    await tg.wait_for(
        lambda t: in_transit(t, "sendMessage") == len(CHATS) and in_transit(t, "getUpdates") == 1, timeout=30
    )
    stream = Keys(key_prefix).telegram_inbox()
    assert await redis.xlen(stream) == len(CHATS)

    victim.kill()
    await victim.wait()
    tg.release()
    assert len(tg.pending_updates) == len(CHATS), "unconfirmed: Telegram sends them all again"

    await deployment.start()
    await eventually(lambda: stream_empty(redis, stream))
    await tg.wait_for(lambda t: not t.pending_updates, timeout=30)
    answered_once_each(tg)


async def ready(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def stream_empty(redis: aioredis.Redis, stream: str) -> bool:
    return not await redis.xlen(stream)
