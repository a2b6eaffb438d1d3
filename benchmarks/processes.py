"""The child processes of a benchmark run: the stand-in, the run's own Redis, and the measured senders.

Every sender runs as a process of its own and prints one JSON line; anything that keeps it from doing so
(a missing module, a crash, a time-out) becomes `NotMeasured` with the reason, so one broken scenario
leaves a hole in the report instead of ending the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from bot.storage.client import open_client
from bot.storage.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
JSON = dict[str, Any]
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class NotMeasured:
    reason: str


Outcome = JSON | NotMeasured


async def run_json(command: Sequence[str], timeout_s: float) -> Outcome:
    """Run `command` from the repository root; its last JSON line on stdout, or why there is none."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, so a time-out also ends the processes it started
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return NotMeasured(f"timed out after {timeout_s:g} s")
    if process.returncode != 0:
        return NotMeasured(f"exit {process.returncode}: {_last_line(stderr) or 'no error output'}")
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.lstrip().startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return NotMeasured("printed no JSON line")


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class StandInProcess:
    """`python -m benchmarks.standin` as a child process, with its control endpoints."""

    def __init__(self, rate: str, token: str) -> None:
        self.rate, self.token, self.url = rate, token, ""
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        command = [sys.executable, "-m", "benchmarks.standin", "--port", "0", "--token", self.token]
        self._process = await asyncio.create_subprocess_exec(
            *command, "--rate", self.rate, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None  # noqa: S101 - stdout=PIPE above
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT_S)
            self.url = json.loads(line)["url"]
        except (TimeoutError, ValueError, KeyError) as error:
            await self._stop()
            raise RuntimeError(f"the stand-in ({self.rate}) did not start: {error!r}") from error
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()
        await self._stop()

    async def stats(self) -> JSON:
        assert self._http is not None  # noqa: S101 - only inside `async with`
        async with self._http.get(f"{self.url}/_stats") as response:
            stats: JSON = await response.json()
            return stats

    async def reset(self) -> None:
        assert self._http is not None  # noqa: S101 - only inside `async with`
        async with self._http.post(f"{self.url}/_reset") as response:
            response.raise_for_status()

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def bench_redis() -> AsyncIterator[str]:
    """A redis-server of the run's own (the embedded one, in a fresh directory under /tmp); its URL."""
    # A short directory: the server's unix socket path must stay under ~107 characters.
    data_dir = Path(tempfile.mkdtemp(prefix="sf-bench-", dir="/tmp"))
    server = EmbeddedRedis(data_dir)
    try:
        await server.open(wait_for_owner_s=0)
        yield server.url
    finally:
        await server.close()
        shutil.rmtree(data_dir, ignore_errors=True)


async def flush_redis(url: str) -> None:
    """Empty the run's Redis (every primary of a cluster), so each engine scenario starts from nothing."""
    client = await open_client(url)
    try:
        await client.flushall(asynchronous=True)  # a million keys take longer than a read timeout
    finally:
        await client.aclose()
