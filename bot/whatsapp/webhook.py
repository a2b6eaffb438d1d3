"""The WhatsApp webhook: verify, store durably, answer 200, and only then process.

Meta expects an answer within seconds, retries what got none for up to 7 days, and never resends what
got a 200 (https://developers.facebook.com/docs/graph-api/webhooks/getting-started). So a POST is
checked (X-Hub-Signature-256 over the raw body, before anything is parsed), appended to a Redis stream,
and acknowledged; a consumer group works the stream off afterwards. A process that dies mid-way leaves
its entries pending, to be taken up again by itself after a restart or by another process. Each entry is
deleted as soon as it is processed, and the append-only file's rewrite (bot/storage/rewrite.py) takes
the bodies (numbers, names, texts, also of people who never agreed to anything) off the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from redis.exceptions import ResponseError

from city.connection import RedisClient

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
# Meta's notifications are a few kilobytes, batches of them well under a megabyte.
MAX_BODY_BYTES = 1024 * 1024
GROUP = "inbound"
BATCH = 32
WRITE_BATCH = 256
BLOCK_MS = 500
# Entries claimed by a process that went silent this long are taken over by another.
RECLAIM_IDLE_MS = 30_000
RECLAIM_EVERY_S = 5.0
# An entry whose processing failed this often is dropped (logged): one bad body must not jam the rest.
MAX_ATTEMPTS = 5
RETRY_PAUSE_S = 1.0

Process = Callable[[str, str], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def verification(verify_token: str) -> Handler:
    """GET: Meta's subscription check. The challenge is echoed only for the right token."""
    expected = verify_token.encode()

    async def verify(request: web.Request) -> web.Response:
        query = request.query
        given = query.get("hub.verify_token", "").encode()
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(given, expected):
            log.warning("whatsapp webhook: verification refused")
            return web.Response(status=403)
        return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")

    return verify


def receiver(app_secret: str, accept: Callable[[str], Awaitable[None]]) -> Handler:
    """POST: a notification. Stored before the 200, so that nothing acknowledged is ever lost."""
    key = app_secret.encode()

    async def receive(request: web.Request) -> web.Response:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            log.warning("whatsapp webhook: unsigned request")
            return web.Response(status=401)
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return web.Response(status=413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        expected = SIGNATURE_PREFIX + hmac.new(key, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
            log.warning("whatsapp webhook: wrong signature")
            return web.Response(status=403)
        try:
            body = raw.decode("utf-8")
            payload = json.loads(body)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(payload, dict):
            return web.Response(status=400, text="not a webhook notification")
        try:
            await accept(body)
        except Exception as exc:  # Redis away or any other storage failure: never a 500
            # Not stored, so not acknowledged: Meta tries again.
            log.error("whatsapp webhook: could not store a notification: %s", type(exc).__name__)
            return web.Response(status=503)
        return web.Response(status=200)

    return receive


class Inbox:
    """The inbound stream and its consumer group, shared by every service process."""

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        worker: str,
        process: Process,
        *,
        reclaim_idle_ms: int = RECLAIM_IDLE_MS,
        processed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._reclaim_idle_ms = reclaim_idle_ms
        # Told after processed bodies are deleted: they stay in the append-only file until its rewrite.
        self._processed = processed
        self._redis = redis
        self._stream = stream
        self._worker = worker
        self._process = process
        self._attempts: dict[str, int] = {}
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._own_pending = True  # after a start, first what this worker had claimed before
        self._last_reclaim = 0.0

    async def accept(self, body: str) -> None:
        """Return once the body is stored. Bodies arriving together share one pipelined round trip, so a
        burst costs Redis one call per batch and the connection pool a single connection."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((body, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:WRITE_BATCH], self._waiting[WRITE_BATCH:]
            failure: BaseException | None = None
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for body, _ in batch:
                        pipe.xadd(self._stream, {"b": body})
                    await pipe.execute()
            except Exception as exc:
                failure = exc
            for _, done in batch:
                if done.done():  # the request was given up meanwhile
                    continue
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

    async def prepare(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step(block_ms=BLOCK_MS)
            except Exception as exc:  # Redis away: wait a little and go on, nothing is lost
                log.error("whatsapp inbox failed: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RETRY_PAUSE_S)

    async def step(self, *, block_ms: int | None = None) -> int:
        """Process one batch: own pending entries first, then those of silent processes, then new ones."""
        entries = await self._read("0") if self._own_pending else []
        self._own_pending = bool(entries)
        if not entries and (
            time.monotonic() - self._last_reclaim > RECLAIM_EVERY_S or self._last_reclaim == 0.0
        ):
            self._last_reclaim = time.monotonic()
            entries = await self._reclaim()
        if not entries:
            entries = await self._read(">", block_ms)
        finished: list[str] = []
        try:
            for entry_id, fields in entries:
                await self._one(entry_id, fields.get("b", ""))
                finished.append(entry_id)
        finally:
            if finished:  # acknowledged and deleted together, one round trip per batch
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self._stream, GROUP, *finished)
                    pipe.xdel(self._stream, *finished)
                    await pipe.execute()
                if self._processed is not None:
                    await self._processed()
        return len(entries)

    async def _one(self, entry_id: str, body: str) -> None:
        try:
            await self._process(entry_id, body)
        except Exception as exc:
            attempts = self._attempts.get(entry_id, 0) + 1
            self._attempts[entry_id] = attempts
            if attempts < MAX_ATTEMPTS:
                self._own_pending = True  # taken up again on the next step
                log.error("whatsapp notification not processed, will retry: %s", type(exc).__name__)
                raise
            log.error("whatsapp notification dropped after %d attempts: %s", attempts, type(exc).__name__)
        self._attempts.pop(entry_id, None)

    async def _read(self, start: str, block_ms: int | None = None) -> list[tuple[str, dict[str, str]]]:
        answer = await self._redis.xreadgroup(
            GROUP, self._worker, {self._stream: start}, count=BATCH, block=block_ms
        )
        return _entries(answer)

    async def _reclaim(self) -> list[tuple[str, dict[str, str]]]:
        answer: Any = await self._redis.xautoclaim(
            self._stream, GROUP, self._worker, self._reclaim_idle_ms, start_id="0-0", count=BATCH
        )
        claimed = answer[1] if isinstance(answer, list | tuple) and len(answer) > 1 else []
        # Entries deleted meanwhile come back as (id, None).
        return [(str(i), cast(dict[str, str], f)) for i, f in claimed if f]

    async def pending(self) -> int:
        """Entries stored but not yet processed, for tests and readiness."""
        info: Any = await self._redis.xpending(self._stream, GROUP)
        return int(info["pending"]) if isinstance(info, dict) else 0


def _entries(answer: Any) -> list[tuple[str, dict[str, str]]]:
    if not answer:
        return []
    # [[stream, [(id, fields), ...]]]
    entries = answer[0][1] if isinstance(answer, list) else next(iter(answer.values()))[0]
    return [(str(entry_id), cast(dict[str, str], fields or {})) for entry_id, fields in entries]
