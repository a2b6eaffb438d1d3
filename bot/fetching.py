"""Conditional GETs of outside documents (the warnings API, press feeds), bounded in time and size.

A source we do not run must never hold the service: the whole request, body included, has a timeout,
and a body over the cap is refused while it streams in. An unchanged document costs a 304, not a body.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from broadcasts.sources import Validators

USER_AGENT = "stadtfunk (a city's messenger service)"
CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """The document could not be had; `kind` names why, for the admins and the logs (never the URL's
    query, which may carry a key)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes | None  # None: unchanged since the validators were given (HTTP 304)
    validators: Validators


class Fetcher:
    def __init__(self, session: aiohttp.ClientSession, *, timeout_s: float, max_bytes: int) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_bytes = max_bytes

    async def get(self, url: str, validators: Validators, *, accept: str = "*/*") -> Fetched:
        headers = {"User-Agent": USER_AGENT, "Accept": accept}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            async with self._session.get(url, headers=headers, timeout=self._timeout) as response:
                if response.status == 304:
                    return Fetched(None, validators)
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                if (response.content_length or 0) > self._max_bytes:
                    raise FetchError("too large")
                body = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise FetchError("too large")
                found = Validators(
                    response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")
                )
                return Fetched(bytes(body), found)
        except TimeoutError:
            raise FetchError("timeout") from None
        except aiohttp.ClientError as exc:
            raise FetchError(type(exc).__name__) from None
