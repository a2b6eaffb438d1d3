"""Erasure that reaches the disk: a service on its own embedded Redis, in a DATA_DIR someone else made.

After /loeschen ja and the append-only file's rewrite, neither Redis nor any file under DATA_DIR holds
the resident's id in any encoding; rewrites are batched by ERASURE_REWRITE_MINUTES on the service's
(injected) clock; DATA_DIR and its files are private after the start and after the rewrite.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from bot.storage.rewrite import DiskRewrite
from tests.bot.conftest import Say, Sleeps, approve
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.traces import file_traces, traces

# Ids as long as Telegram's, so that no counter or time on the disk reads like one of them.
FIRST, SECOND, STAYING = 7391846205, 7391846277, 7391846301
EDITOR, APPROVER = 100002, 100003
NEWS = "Die B7 ist zwischen Nord und Mitte gesperrt."


def premade(path: Path) -> None:
    """DATA_DIR as systemd's StateDirectory or a volume leaves it: 0755, with a file of 0644 in it."""
    path.chmod(0o755)
    (path / "notes.txt").write_text("left by the operator")
    (path / "notes.txt").chmod(0o644)


def modes(data_dir: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for path in data_dir.rglob("*"):
        if not path.is_socket():
            found[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short: the server's unix socket path must stay under 107 characters.
    path = Path(tempfile.mkdtemp(prefix="sf-disk-", dir="/tmp"))
    premade(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def service(
    tg: FakeTelegram, make_settings: Any, clock: ManualClock, sleeps: Sleeps, city_file: Path, data_dir: Path
) -> AsyncIterator[Service]:
    """No REDIS_URL: the service starts its own Redis in DATA_DIR, as a small deployment does."""
    settings = make_settings(
        telegram_api_url=tg.url, city_config=city_file, redis_url=None, data_dir=data_dir
    )
    running = Service(settings, clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()


async def subscribed(say: Say, chat: int) -> None:
    await say(chat, "/start")
    await say(chat, "/zustimmen")
    await say(chat, "/abo verkehr")


def got_news(tg: FakeTelegram, chat: int) -> bool:
    return any(NEWS in str(call.params["text"]) for call in tg.sent(chat))


async def rewritten(service: Service, disk: DiskRewrite) -> None:
    """The service's privacy upkeep, then the end of a rewrite it may have started."""
    assert service.privacy is not None
    await service.privacy.once()
    assert await disk.settled()


async def test_an_erased_resident_leaves_redis_and_every_file_under_data_dir(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, data_dir: Path
) -> None:
    assert service.storage is not None
    redis, disk = service.storage.redis, DiskRewrite(service.storage.redis, service.storage.keys)
    found = modes(data_dir)
    assert found.pop(".") == 0o700
    assert set(found.values()) == {0o600}, found
    for chat in (FIRST, SECOND, STAYING):
        await subscribed(say, chat)
    await say(EDITOR, f"/meldung verkehr {NEWS}")
    await say(EDITOR, "/einreichen 1")
    await approve(say, tg, APPROVER, 1)
    for chat in (FIRST, SECOND, STAYING):
        await tg.wait_for(partial(got_news, chat=chat))
    # The scanner finds what is there: the residents are in the append-only file.
    assert file_traces(data_dir, str(FIRST)) == ["appendonly.aof"]

    await say(FIRST, "/loeschen ja")
    assert await traces(redis, str(FIRST)) == []
    assert file_traces(data_dir, str(FIRST)) == ["appendonly.aof"], "until the rewrite, still on disk"
    first_rewrite = clock()
    await rewritten(service, disk)  # none before: the first erasure is rewritten at once
    assert file_traces(data_dir, str(FIRST)) == []

    # A second erasure soon after waits for ERASURE_REWRITE_MINUTES (15) since the last rewrite.
    await say(SECOND, "/loeschen ja")
    await rewritten(service, disk)
    assert file_traces(data_dir, str(SECOND)) == ["appendonly.aof"]
    clock.current = first_rewrite + timedelta(minutes=14, seconds=59)
    await rewritten(service, disk)
    assert file_traces(data_dir, str(SECOND)) == ["appendonly.aof"]
    clock.current = first_rewrite + timedelta(minutes=15)
    await rewritten(service, disk)

    for erased in (FIRST, SECOND):
        assert await traces(redis, str(erased)) == []
        assert file_traces(data_dir, str(erased)) == []
    assert file_traces(data_dir, str(STAYING)) == ["appendonly.aof"], "the others stay"
    found = modes(data_dir)
    assert found.pop(".") == 0o700
    assert set(found.values()) == {0o600}, f"the rewritten file too: {found}"
