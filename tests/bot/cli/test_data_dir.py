"""Commands beside the service read its data: never a new, empty store, and a hint where the data is."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.sandbox.adapter import sandbox_settings
from bot.storage.client import open_storage
from broadcasts.audit import Action, AuditLog, Entry
from city.keys import Keys
from tests.bot.cli.test_cli import stadtfunk

COMMANDS = [
    ("status",),
    ("reload",),
    ("audit",),
    ("stats",),
    ("export-subscribers", "--aggregate"),
    ("export-resident", "--channel", "tg", "--id", "4711"),
    ("erase-resident", "--channel", "tg", "--id", "4711"),
    ("broadcast", "--as", "presse-redaktion", "--topic", "verkehr", "--text", "Test"),
]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short, under /tmp: the embedded server's unix socket path must stay under ~107 characters.
    path = Path(tempfile.mkdtemp(prefix="sf-cli-", dir="/tmp"))
    yield path
    pid_file = path / "redis.pid"
    if pid_file.exists():  # a test that failed half-way must not leave a server behind
        os.kill(int(pid_file.read_text()), 15)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_data_dir_is_refused_and_not_created(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = stadtfunk(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert f"DATA_DIR {tmp_path / 'data'} does not exist" in result.stderr
    assert "only `stadtfunk run` creates one" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_an_empty_data_dir_is_refused_and_no_server_starts_there(tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    result = stadtfunk("stats", cwd=tmp_path, DATA_DIR=str(empty))
    assert result.returncode == 2
    assert f"DATA_DIR {empty} holds no stadtfunk data" in result.stderr
    assert list(empty.iterdir()) == []
    assert result.stdout == ""


async def test_only_the_sandboxs_data_gets_a_hint_at_sandbox(data_dir: Path, make_settings: Any) -> None:
    # What `make run` without messenger credentials leaves behind: the sandbox's prefix, stamped.
    settings = make_settings(redis_url=None, data_dir=data_dir, redis_key_prefix="stadtfunk")
    storage = await open_storage(sandbox_settings(settings), service=True)
    await storage.close()
    env = {"DATA_DIR": str(data_dir)}
    for command in (("audit",), ("status",), ("reload",)):
        refused = await asyncio.to_thread(stadtfunk, *command, cwd=data_dir.parent, **env)
        assert refused.returncode == 2
        assert f"DATA_DIR {data_dir}, key prefix stadtfunk holds only the sandbox's data" in refused.stderr
        assert "add --sandbox" in refused.stderr
    read = await asyncio.to_thread(stadtfunk, "--sandbox", "audit", cwd=data_dir.parent, **env)
    assert read.returncode == 0, read.stderr
    assert f"stadtfunk: reading DATA_DIR {data_dir}, key prefix stadtfunk:sandbox" in read.stderr


async def test_a_closed_pipe_ends_quietly_with_exit_0(
    redis: aioredis.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    sandbox = Keys(f"{key_prefix}:sandbox")
    log = AuditLog(redis, sandbox, b"audit-secret-for-the-test-0123456789")
    for n in range(2000):  # far more than a pipe buffers, so the writer meets the closed end
        await log.record(Entry(datetime.now(UTC), "presse-redaktion", Action.SUBMIT, str(n)))
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    command = [sys.executable, "-m", "bot.cli", "--sandbox", "audit"]
    first, code, stderr = await asyncio.to_thread(head_1, command, env)
    assert '"action": "submit"' in first
    assert code == 0
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


def head_1(command: list[str], env: dict[str, str]) -> tuple[str, int, str]:
    """`command | head -1`: read one line, then close the pipe as head does when it exits."""
    with subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        return first, process.wait(timeout=60), stderr
