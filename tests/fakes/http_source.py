"""A stand-in for an outside document server (a press feed, the warnings API) on loopback.

It serves the documents a test puts at paths, with an ETag and Last-Modified of its own, answers 304 to
a request whose validators still match, and can be told to fail, to hang until released, or to send a
body of a given size. It records every request's path and conditional headers.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web

LAST_MODIFIED = "Wed, 02 Dec 2026 06:00:00 GMT"


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    if_none_match: str | None
    if_modified_since: str | None


@dataclass(slots=True)
class _Document:
    body: bytes
    content_type: str
    status: int = 200
    hang: asyncio.Event | None = None
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


class FakeSource:
    def __init__(self) -> None:
        self._documents: dict[str, _Document] = {}
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        # Answers still being written; the server closes only after them, so none is cut off mid-way.
        self._answering = 0
        self._hangs: list[asyncio.Event] = []
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for release in self._hangs:
            release.set()
        await self._idle.wait()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def put(self, path: str, body: str | bytes, content_type: str = "application/xml") -> None:
        data = body.encode() if isinstance(body, str) else body
        self._documents[path.lstrip("/")] = _Document(data, content_type)

    def fail(self, path: str, status: int) -> None:
        self._documents[path.lstrip("/")] = _Document(b"", "text/plain", status=status)

    def hang(self, path: str) -> asyncio.Event:
        """The answer waits until the returned event is set (or the stand-in closes)."""
        release = asyncio.Event()
        self._hangs.append(release)
        self._documents[path.lstrip("/")] = _Document(b"late", "text/plain", hang=release)
        return release

    def requested(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path.lstrip("/")]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self._answering += 1
        self._idle.clear()
        try:
            return await self._answer(request)
        finally:
            self._answering -= 1
            if not self._answering:
                self._idle.set()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append(
            Request(path, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"))
        )
        document = self._documents.get(path)
        if document is None:
            return web.Response(status=404)
        if document.hang is not None:
            await document.hang.wait()
        if document.status != 200:
            return web.Response(status=document.status)
        if request.headers.get("If-None-Match") == document.etag:
            return web.Response(status=304)
        headers = {"ETag": document.etag, "Last-Modified": LAST_MODIFIED}
        return web.Response(body=document.body, content_type=document.content_type, headers=headers)
