"""A copy of the audit log on a syslog server, out of Redis's reach (AUDIT_SYSLOG).

Each entry becomes one RFC 5424 message: facility "log audit", severity notice, the action as MSGID and
the whole entry as JSON, with its number and keyed hash, so that the copy can be checked against the
chain on its own. UDP sends one datagram per message (RFC 5426); TCP frames each with its length
(octet counting, RFC 6587). The entries are copied in order from a cursor in Redis, one process at a
time: an entry is marked copied after it was handed to the network, so a failure sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from broadcasts.audit import AuditLog, Entry

log = logging.getLogger(__name__)

# RFC 5424 section 6.2.1: PRI = facility * 8 + severity; 13 is "log audit", 5 is "notice".
PRIORITY = 13 * 8 + 5
APP_NAME = "stadtfunk"
# RFC 5424 section 6.4: a UTF-8 MSG starts with the byte order mark.
BOM = "\ufeff"
BATCH = 100
SEND_TIMEOUT_S = 10.0
URL = re.compile(r"^(udp|tcp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$")


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    transport: Literal["udp", "tcp"]
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> SyslogTarget:
        """udp://host:514 or tcp://host:port; an IPv6 address in brackets."""
        match = URL.fullmatch(url.strip())
        if match is None or not 0 < int(match[3]) < 65536:
            raise ValueError(
                f"AUDIT_SYSLOG must look like udp://host:514 or tcp://host:6514, got {url[:80]!r}"
            )
        transport: Literal["udp", "tcp"] = "udp" if match[1] == "udp" else "tcp"
        return cls(transport, match[2].strip("[]"), int(match[3]))


def hostname() -> str:
    """This machine's name as RFC 5424 allows it (printable US-ASCII, at most 255), or "-"."""
    name = "".join(c for c in socket.gethostname() if 33 <= ord(c) <= 126)[:255]
    return name or "-"


def format_entry(entry: Entry, mac: str, host: str) -> bytes:
    """One audit entry as an RFC 5424 message."""
    timestamp = entry.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    msgid = "".join(c for c in str(entry.action) if 33 <= ord(c) <= 126)[:32] or "-"
    body = json.dumps({**entry.as_json(), "mac": mac}, ensure_ascii=False, separators=(",", ":"))
    return f"<{PRIORITY}>1 {timestamp} {host} {APP_NAME} - {msgid} - {BOM}{body}".encode()


class _Datagrams(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:
        # An ICMP "port unreachable" from a listener that is down: UDP promises nothing, so only noted.
        log.warning("syslog datagram not received: %s", type(exc).__name__)


class SyslogSender:
    """Hands messages to the syslog server; a broken connection is opened again on the next send."""

    def __init__(self, target: SyslogTarget) -> None:
        self._target = target
        self._datagrams: asyncio.DatagramTransport | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._incoming: asyncio.StreamReader | None = None

    async def send(self, messages: list[bytes]) -> None:
        try:
            if self._target.transport == "udp":
                await self._send_datagrams(messages)
            else:
                # A server that neither answers nor reads must not hold the service (TimeoutError is an
                # OSError: the connection is dropped and opened again next time).
                await asyncio.wait_for(self._send_stream(messages), SEND_TIMEOUT_S)
        except OSError:
            await self.close()
            raise

    async def _send_datagrams(self, messages: list[bytes]) -> None:
        if self._datagrams is None:
            loop = asyncio.get_running_loop()
            self._datagrams, _ = await loop.create_datagram_endpoint(
                _Datagrams, remote_addr=(self._target.host, self._target.port)
            )
        for message in messages:
            self._datagrams.sendto(message)

    async def _send_stream(self, messages: list[bytes]) -> None:
        if self._incoming is not None and self._incoming.at_eof():
            await self.close()  # the server closed the connection: writing would only fill a buffer
        if self._stream is None:
            self._incoming, self._stream = await asyncio.open_connection(self._target.host, self._target.port)
        self._stream.write(b"".join(f"{len(m)} ".encode() + m for m in messages))
        await self._stream.drain()

    async def close(self) -> None:
        if self._datagrams is not None:
            self._datagrams.close()
            self._datagrams = None
        if self._stream is not None:
            self._stream.close()
            with contextlib.suppress(OSError):
                await self._stream.wait_closed()
            self._stream = None
            self._incoming = None


class AuditShipper:
    """Copies what the audit log holds beyond the cursor to syslog, in order, from one process at a time."""

    def __init__(self, audit: AuditLog, sender: SyslogSender, worker: str, host: str | None = None) -> None:
        self._audit = audit
        self._sender = sender
        self._worker = worker
        self._host = host or hostname()
        self._lock = asyncio.Lock()

    async def ship(self) -> int:
        """Copy every entry not yet copied; returns how many went. A failure is logged by its kind and
        tried again on the next call, from the first entry not marked copied."""
        async with self._lock:
            if not await self._audit.lease_shipping(self._worker):
                return 0
            shipped = 0
            try:
                while batch := await self._audit.unshipped(BATCH):
                    await self._sender.send([format_entry(entry, mac, self._host) for entry, mac in batch])
                    await self._audit.shipped(batch[-1][0].entry_id)
                    shipped += len(batch)
            except OSError as exc:
                log.warning("audit log not copied to syslog (%s); trying again shortly", type(exc).__name__)
            return shipped

    async def close(self) -> None:
        await self._sender.close()
