"""Shared fixtures: a real Redis (REDIS_URL, or the embedded server), a manual clock, the Bot API stand-in."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.settings import Settings
from bot.storage.embedded import EmbeddedRedis
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:TEST-token-for-the-stand-in"


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when the environment names a server; otherwise one embedded server for the whole run."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    # A short directory: the server's unix socket path must stay under ~107 characters.
    data_dir = Path(tempfile.mkdtemp(prefix="sf-redis-", dir="/tmp"))
    server = EmbeddedRedis(data_dir)
    asyncio.run(server.open(wait_for_owner_s=0))
    try:
        yield server.url
    finally:
        asyncio.run(server.close())
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def key_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client for the test's own key prefix; everything under it is deleted afterwards."""
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def make_settings(redis_url: str, key_prefix: str, tmp_path: Path) -> Any:
    """Settings as a deployment sets them; every field explicit, so a developer's .env cannot leak in."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": "http://127.0.0.1:9",
            "telegram_mode": "polling",
            "telegram_webhook_url": None,
            "telegram_webhook_secret": None,
            "redis_url": redis_url,
            "redis_key_prefix": key_prefix,
            "data_dir": tmp_path / "data",
            "http_host": "127.0.0.1",
            "http_port": 0,
            # Tests run side by side: each service's /metrics on a free port instead of the fixed 9464.
            "metrics_port": 0,
            "log_level": "DEBUG",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build
