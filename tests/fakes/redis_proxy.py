"""A stand-in in front of the suite's real Redis, on loopback: it forwards every command and every answer
unchanged, except for the commands a test names. Those it holds until the test lets them go, or lets
reach the server and then cuts the connection before the answer comes back.

With it a test stops a client between two of its own round trips, at the moment it chooses, while other
clients (the same process's other connections) go on; or makes a command run whose answer is lost, as a
server restart or a network failure does. Races that real Redis traffic only sometimes shows happen
every time. The server itself is the real one; nothing is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

_CHUNK = 65_536
RETRIES = 10  # what redis-py's clients retry after a connection error, by default


@dataclass(frozen=True, slots=True)
class _Rule:
    """A command by its name, and words that must be among its arguments (a script's, say)."""

    name: bytes
    words: frozenset[bytes]

    def matches(self, command: list[bytes]) -> bool:
        return command[0].upper() == self.name and self.words.issubset(command[1:])


class RedisProxy:
    def __init__(self, upstream_url: str) -> None:
        # The settings the client would connect with: host and port, or a unix socket's path.
        self._upstream: dict[str, Any] = aioredis.ConnectionPool.from_url(upstream_url).connection_kwargs
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._holds: list[_Rule] = []
        self._cuts: list[_Rule] = []
        self._held: list[tuple[str, asyncio.Future[None]]] = []
        self.cut_off: list[str] = []  # the names of the commands whose answers were cut off, oldest first
        self._changed = asyncio.Condition()
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    def client(self) -> aioredis.Redis:
        """A client that reaches the real server (its database and credentials) through this proxy, set up
        as the service's (bot/storage/client.py) but for the waits between its retries: a test's time
        is virtual."""
        kept = {k: v for k, v in self._upstream.items() if k in ("db", "username", "password")}
        return aioredis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            health_check_interval=30,
            retry=Retry(NoBackoff(), RETRIES),
            **kept,
        )

    def hold(self, command: str, *words: str) -> None:
        """From now on, a command of this name with these words among its arguments (and every later one on
        its connection) waits at the proxy, unanswered, until `release`."""
        self._holds.append(_rule(command, words))

    @property
    def held(self) -> list[str]:
        """The names of the commands held now, oldest first."""
        return [name for name, _ in self._held]

    async def wait_held(self, command: str, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until `count` commands of this name are held."""
        await self._until(lambda: self.held.count(command.upper()) >= count, timeout)

    def release(self) -> None:
        """Let every held command go on, and hold nothing more."""
        self._holds.clear()
        held, self._held = self._held, []
        for _, gate in held:
            gate.set_result(None)

    def cut(self, command: str, *words: str) -> None:
        """From now on, a command of this name with these words among its arguments reaches the server and
        runs; then its connection is closed before the answer reaches the client, as when the server goes
        away right after running it (every retry of the client's meets the same fate)."""
        self._cuts.append(_rule(command, words))

    def mend(self) -> None:
        """Cut off no more answers."""
        self._cuts.clear()

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        up_reader, up_writer = await self._connect()
        answers = asyncio.create_task(_pipe(up_reader, writer))
        try:
            buffer = b""
            while data := await reader.read(_CHUNK):
                buffer += data
                while (found := _next_command(buffer)) is not None:
                    command, end = found
                    name = command[0].decode().upper()
                    if any(rule.matches(command) for rule in self._holds):
                        await up_writer.drain()
                        gate = asyncio.get_running_loop().create_future()
                        self._held.append((name, gate))
                        await self._notify()
                        await gate
                    if any(rule.matches(command) for rule in self._cuts):
                        # A client waits for each answer before its next command: nothing else is
                        # on its way back on this connection.
                        answers.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await answers
                        up_writer.write(buffer[:end])
                        buffer = buffer[end:]
                        await up_writer.drain()
                        answer = await up_reader.read(_CHUNK)
                        if not answer.startswith(b"-"):  # it ran (an error, NOSCRIPT say, did not)
                            self.cut_off.append(name)
                            await self._notify()
                            return
                        writer.write(answer)
                        answers = asyncio.create_task(_pipe(up_reader, writer))
                        continue
                    up_writer.write(buffer[:end])
                    buffer = buffer[end:]
                await up_writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            answers.cancel()
            up_writer.close()
            writer.close()
            self._writers.discard(writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if path := self._upstream.get("path"):
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(self._upstream["host"], self._upstream["port"])


def _rule(command: str, words: tuple[str, ...]) -> _Rule:
    return _Rule(command.upper().encode(), frozenset(word.encode() for word in words))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    writer.close()


def _next_command(buffer: bytes) -> tuple[list[bytes], int] | None:
    """The words of the first complete command in `buffer` and where it ends; None while incomplete.

    Clients send a command as an array of bulk strings (`*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n`); an
    inline command is one line."""
    line_end = buffer.find(b"\r\n")
    if line_end < 0:
        return None
    if not buffer.startswith(b"*"):
        return buffer[:line_end].split() or [b""], line_end + 2
    position, words = line_end + 2, []
    for _ in range(int(buffer[1:line_end])):
        header_end = buffer.find(b"\r\n", position)
        if header_end < 0:
            return None
        start = header_end + 2
        end = start + int(buffer[position + 1 : header_end])
        if len(buffer) < end + 2:
            return None
        words.append(buffer[start:end])
        position = end + 2
    return words, position
