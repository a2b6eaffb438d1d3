"""`stadtfunk ...` run as an operator runs it, next to a running service."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from tests.bot.cli.test_cli import stadtfunk
from tests.conftest import TOKEN


@pytest.fixture
def cli(service: Service, tmp_path: Path) -> Any:
    """`stadtfunk ...` as an operator on the service's machine runs it (same Redis, city file, data)."""
    settings = service.settings
    env = {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "CITY_CONFIG": str(settings.city_config),
        "DATA_DIR": str(settings.data_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": settings.telegram_api_url,
    }

    async def run(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(stadtfunk, *args, cwd=tmp_path, **(env | overrides))

    return run
