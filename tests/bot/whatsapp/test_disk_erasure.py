"""`stadtfunk erase-resident` for a WhatsApp resident erases what the chat's LOESCHEN does, WhatsApp's marks
included, and the rewrite it starts takes them, and the webhook bodies of someone who never agreed to
anything, off the disk of the service's own embedded Redis."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.service import Service
from bot.storage.idhash import hasher_for
from city.values import Channel, Resident
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import Sleeps
from tests.bot.whatsapp.conftest import RESIDENT, Webhook, Write, whatsapp_settings
from tests.bot.whatsapp.test_conversation import agree
from tests.conftest import ManualClock
from tests.fakes.graph_api import FakeGraph
from tests.traces import file_traces, traces

STRANGER = "4915199988877"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sf-wa-", dir="/tmp"))  # short: the socket path's limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def wa_service(
    graph: FakeGraph, make_settings: Any, clock: ManualClock, sleeps: Sleeps, city_file: Path, data_dir: Path
) -> AsyncIterator[Service]:
    settings = make_settings(**whatsapp_settings(graph, city_file, redis_url=None, data_dir=data_dir))
    running = Service(settings, clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def webhook(wa_service: Service) -> AsyncIterator[Webhook]:
    assert wa_service.storage is not None
    async with aiohttp.ClientSession() as session:
        yield Webhook(session, wa_service, wa_service.storage.redis)


async def test_erasure_by_letter_leaves_no_mark_and_nothing_on_disk(
    write: Write, wa_service: Service, data_dir: Path, city_file: Path, tmp_path: Path
) -> None:
    assert wa_service.storage is not None
    redis, keys = wa_service.storage.redis, wa_service.storage.keys
    await agree(write)
    await write("ABO verkehr")
    # Someone who never agrees: their webhook bodies (number, name, text) pass through the inbox.
    await write("Hallo, hier ist Erika aus der Nordstadt", wa_id=STRANGER)
    hashed = hasher_for(wa_service.settings)(f"{Channel.WHATSAPP.value}:{RESIDENT}")
    marks = [keys.whatsapp_window(hashed), keys.whatsapp_seen(hashed)]
    assert await redis.exists(*marks) == 2
    assert file_traces(data_dir, RESIDENT) == ["appendonly.aof"]
    assert file_traces(data_dir, STRANGER) == ["appendonly.aof"]

    result = await asyncio.to_thread(
        stadtfunk,
        "erase-resident", "--channel", "wa", "--id", f"+{RESIDENT}",
        cwd=tmp_path,
        DATA_DIR=str(data_dir),
        REDIS_KEY_PREFIX=wa_service.settings.redis_key_prefix,
        CITY_CONFIG=str(city_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WhatsApp marks" in result.stdout
    assert "the append-only file was rewritten" in result.stdout

    assert await redis.exists(*marks) == 0
    for person in (RESIDENT, STRANGER):
        assert await traces(redis, person) == []
        assert file_traces(data_dir, person) == [], person


async def test_erasure_by_letter_refuses_another_hash_secret(
    write: Write, wa_service: Service, city_file: Path, tmp_path: Path
) -> None:
    """With another ID_HASH_SECRET the marks could not be found: refused instead of erased half."""
    await agree(write)
    result = await asyncio.to_thread(
        stadtfunk,
        "erase-resident", "--channel", "wa", "--id", RESIDENT,
        cwd=tmp_path,
        DATA_DIR=str(wa_service.settings.data_dir),
        REDIS_KEY_PREFIX=wa_service.settings.redis_key_prefix,
        CITY_CONFIG=str(city_file),
        ID_HASH_SECRET="another-secret-of-the-operator",
    )  # fmt: skip
    assert result.returncode == 2
    assert "ID_HASH_SECRET differs" in result.stderr
    assert wa_service.services is not None
    assert await wa_service.services.residents.get(Resident(Channel.WHATSAPP, RESIDENT)) is not None
