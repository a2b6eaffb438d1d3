"""A running service against the Bot API stand-in and a real Redis."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from bot.settings import DEFAULT_CITY_FILE
from city.keys import Keys
from tests.conftest import ManualClock
from tests.fakes.telegram_api import Call, FakeTelegram

SETTLE_TURNS = 20
FLOOD_EXAMPLE = "flood: {messages: 8, seconds: 10}"
FLOOD_UNTESTED = "flood: {messages: 1000, seconds: 10}"


class Sleeps:
    """Waiting in virtual time: records what the service wanted to wait for and moves the clock on."""

    def __init__(self, clock: ManualClock) -> None:
        self.requested: list[float] = []
        self._clock = clock

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        # Work already started (a send on its way over loopback) happens before time moves on, as it
        # would in real time; a few turns of the loop carry it through.
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)
        self._clock.advance(seconds=seconds)


@pytest.fixture
def sleeps(clock: ManualClock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def city_file(tmp_path: Path) -> Path:
    """A writable copy of the example city: tests change it and reload, as a press office would."""
    path = tmp_path / "stadt.yaml"
    text = DEFAULT_CITY_FILE.read_text(encoding="utf-8")
    # Tests type far faster than people: the flood budget is set back to the city's own where it is tested.
    assert FLOOD_EXAMPLE in text
    path.write_text(text.replace(FLOOD_EXAMPLE, FLOOD_UNTESTED), encoding="utf-8")
    return path


def edit_city(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
async def service(
    tg: FakeTelegram,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
) -> AsyncIterator[Service]:
    running = Service(
        make_settings(telegram_api_url=tg.url, city_config=city_file), clock=clock, sleep=sleeps
    )
    await running.start()
    yield running
    await running.stop()


Say = Callable[..., Awaitable[list[str]]]


async def handled(redis: aioredis.Redis, keys: Keys, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until the update's inbox entry is gone: handled, answered and deleted (what it said with it)."""

    async def waiting() -> bool:
        entries: Any = await redis.xrange(keys.telegram_inbox())
        return any(json.loads(fields.get("b", "{}")).get("update_id") == update_id for _, fields in entries)

    async with asyncio.timeout(timeout):
        while await waiting():  # noqa: ASYNC110 (Redis state)
            await asyncio.sleep(0.005)


async def settled(service: Service, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until every stored update is handled and its answers are out: an inbox entry is deleted
    only then. (Redis state: looked at again every few milliseconds, within a deadline.)"""
    assert service.storage is not None
    redis, keys = service.storage.redis, service.storage.keys
    async with asyncio.timeout(timeout):
        while await redis.xlen(keys.telegram_inbox()) or await redis.xlen(keys.whatsapp_inbox()):  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def bot_calls(tg: FakeTelegram, chat_id: int) -> list[Call]:
    """What the bot did in one chat: sends, edits, documents (not polling or callback answers)."""
    return [c for c in tg.calls if c.chat_id == str(chat_id) and c.method in ANSWERS]


ANSWERS = frozenset({"sendMessage", "editMessageText", "sendDocument"})


@pytest.fixture
def say(tg: FakeTelegram, service: Service, redis: aioredis.Redis, key_prefix: str) -> Say:
    """Type (or tap) something as a resident; returns the texts of the bot's next `replies` answers."""

    async def send(
        chat_id: int, text: str, *, language_code: str | None = "de", button: bool = False, replies: int = 1
    ) -> list[str]:
        before = len(bot_calls(tg, chat_id))
        if button:
            update_id = tg.push_callback(chat_id, text, language_code=language_code)
        else:
            update_id = tg.push_message(chat_id, text, language_code=language_code)
        await tg.wait_for(lambda t: len(bot_calls(t, chat_id)) >= before + replies)
        await handled(redis, Keys(key_prefix), update_id)
        # What the resident sees: Telegram renders the HTML the bot sends.
        return [html.unescape(str(c.params.get("text", ""))) for c in bot_calls(tg, chat_id)[before:]]

    return send


def button_command(tg: FakeTelegram, chat_id: int, prefix: str) -> str:
    """The command of the newest button in a chat that starts with `prefix`: what the person taps."""
    for message in reversed(tg.messages(chat_id)):
        for command in message_buttons(message):
            if command.startswith(prefix):
                return command
    raise AssertionError(f"no button {prefix!r} in chat {chat_id}")


def message_buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [str(b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def press(tg: FakeTelegram, chat_id: int, command: str, *, replies: int = 1) -> list[str]:
    """Tap the button `command` on the message that carries it (not just the newest one); returns the
    texts of the bot's next `replies` answers in that chat."""
    message = next(m for m in reversed(tg.messages(chat_id)) if command in message_buttons(m))
    before = len(bot_calls(tg, chat_id))
    tg.push_callback(chat_id, command, message_id=int(message["message_id"]))
    await tg.wait_for(lambda t: len(bot_calls(t, chat_id)) >= before + replies)
    return [html.unescape(str(c.params.get("text", ""))) for c in bot_calls(tg, chat_id)[before:]]


async def approve(
    say: Say, tg: FakeTelegram, chat_id: int, broadcast_id: int | str, **options: Any
) -> list[str]:
    """An approver taps "Freigeben" on the request for a broadcast; one who never got a request types
    /freigeben first and is shown the version to approve."""
    prefix = f"/freigeben {broadcast_id} "
    try:
        command = button_command(tg, chat_id, prefix)
    except AssertionError:
        await say(chat_id, prefix.strip())
        command = button_command(tg, chat_id, prefix)
    return await press(tg, chat_id, command, **options)
