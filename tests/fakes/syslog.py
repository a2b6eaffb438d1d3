"""A syslog server stand-in on loopback: RFC 5424 over UDP (one message per datagram, RFC 5426) or TCP
(octet counting, RFC 6587), parsed the way a collector parses them.

`async with SyslogListener("udp") as syslog:` listens on 127.0.0.1 at `syslog.url`
(udp://127.0.0.1:<port>); point AUDIT_SYSLOG at it. A message that is not RFC 5424 fails the test that
sent it: `received` holds what arrived, parsed; `wait_for(n)` waits without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

# RFC 5424 section 6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
HEADER = re.compile(
    rb"<(?P<pri>[0-9]{1,3})>1 (?P<timestamp>\S+) (?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) "
    rb"(?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) (?P<sd>-|\[.*?\])(?: (?P<msg>.*))?$",
    re.DOTALL,
)
TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Message:
    facility: int
    severity: int
    timestamp: str
    host: str
    app: str
    msgid: str
    body: dict[str, Any]  # the MSG, a UTF-8 JSON object after the byte order mark


def parse(raw: bytes) -> Message:
    """One RFC 5424 message, or AssertionError naming what is wrong with it."""
    match = HEADER.match(raw)
    assert match is not None, f"not an RFC 5424 message: {raw[:120]!r}"
    pri = int(match["pri"])
    assert pri <= 191, f"PRI out of range: {pri}"
    timestamp = match["timestamp"].decode()
    assert TIMESTAMP.match(timestamp), f"not an RFC 3339 time: {timestamp}"
    msg = match["msg"] or b""
    assert msg.startswith(BOM), "a UTF-8 MSG starts with the byte order mark (RFC 5424 section 6.4)"
    return Message(
        facility=pri // 8,
        severity=pri % 8,
        timestamp=timestamp,
        host=match["host"].decode(),
        app=match["app"].decode(),
        msgid=match["msgid"].decode(),
        body=json.loads(msg[len(BOM) :].decode()),
    )


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._listener.arrived(data)


class SyslogListener:
    def __init__(self, transport: Literal["udp", "tcp"]) -> None:
        self.transport = transport
        self.received: list[Message] = []
        self.port = 0
        self._arrival = asyncio.Event()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"{self.transport}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (again, on the same port once one was taken: a collector coming back)."""
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=("127.0.0.1", self.port)
            )
            self.port = self._udp.get_extra_info("sockname")[1]
        else:
            self._tcp = await asyncio.start_server(self._stream, "127.0.0.1", self.port)
            self.port = self._tcp.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for client in list(self._clients):  # a collector going away drops its connections
                client.close()
            await self._tcp.wait_closed()
            self._tcp = None

    def arrived(self, raw: bytes) -> None:
        self.received.append(parse(raw))
        self._arrival.set()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, one after another."""
        self._clients.add(writer)
        try:
            while length := await reader.readuntil(b" "):
                self.arrived(await reader.readexactly(int(length[:-1])))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:  # noqa: ASYNC109
        """Wait until `count` messages arrived; returns them all."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._arrival.clear()
                await self._arrival.wait()
        return self.received
