"""A thin WhatsApp Cloud API client on aiohttp, with Meta's error codes mapped here only.

Requests go to `{WHATSAPP_API_URL}/{version}/{phone_number_id}/messages` with a Bearer token
(https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages). Bodies are built by the
pure functions in bot/whatsapp/payloads.py.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from broadcasts.outcome import SendError, SendProblem

JSON_HEADERS = {"Content-Type": "application/json"}

# https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})  # throughput, pair rate: back off and retry
OUTSIDE_WINDOW = 131047  # more than 24 hours since the resident last wrote: only templates go
UNDELIVERABLE = 131026  # not on WhatsApp, old app, terms not accepted: stop until they write
SUPPRESS_CODES = frozenset({131049, 131050})  # Meta chose not to deliver; the person stopped such messages
SPAM_LIMITED = 131048  # the number is throttled as spam: pause the broadcast, tell its author
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})  # Meta's side: retry with backoff
# How long to wait after a throughput or pair-rate error; Meta names no retry-after of its own.
RATE_LIMIT_WAIT_S = 6.0


class WhatsAppAPI:
    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, version: str, phone_number_id: str, token: str
    ) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/{version}/{phone_number_id}/"
        self._auth = {"Authorization": f"Bearer {token}"}
        self._json_headers = {**JSON_HEADERS, **self._auth}

    async def send(self, body: bytes) -> str | None:
        """POST one prepared message; returns its wamid (statuses refer to it later)."""
        payload = await self._post("messages", body, self._json_headers)
        messages = payload.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            return str(wamid) if wamid is not None else None
        return None

    async def mark_read(self, wamid: str) -> None:
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        await self._post("messages", json.dumps(body).encode(), self._json_headers)

    async def upload(self, content: bytes, filename: str, mime_type: str) -> str:
        """Upload media once; the returned id is reused by every send of it (kept 30 days by Meta)."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", content, filename=filename, content_type=mime_type)
        payload = await self._post("media", form, self._auth)
        media_id = payload.get("id")
        if not isinstance(media_id, str | int):
            raise SendError(SendProblem.REJECTED, "media upload answered without an id")
        return str(media_id)

    async def _post(
        self, path: str, body: bytes | aiohttp.FormData, headers: dict[str, str]
    ) -> dict[str, Any]:
        try:
            async with self._session.post(self._base + path, data=body, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(SendProblem.UNAVAILABLE, type(exc).__name__) from None
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if status == 200 and "error" not in payload:
            return payload
        raise classify(status, payload)


def error_code(payload: dict[str, Any]) -> int | None:
    error = payload.get("error")
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def classify(status: int, payload: dict[str, Any]) -> SendError:
    """Map a Graph API error answer ({"error": {"code", "message", ...}}) to a SendProblem."""
    code = error_code(payload)
    detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
    return classify_code(code, detail, status=status)


def classify_code(code: int | None, detail: str, *, status: int = 400) -> SendError:
    """Also used for the `errors[]` of a failed status in the webhook, which carry the same codes."""
    if code in RATE_LIMIT_CODES or status == 429:
        return SendError(SendProblem.RATE_LIMITED, detail, retry_after=RATE_LIMIT_WAIT_S)
    if code == OUTSIDE_WINDOW:
        return OutsideWindow(detail)
    if code == UNDELIVERABLE:
        return SendError(SendProblem.BLOCKED, detail)
    if code in SUPPRESS_CODES:
        return SendError(SendProblem.SUPPRESSED, detail)
    if code == SPAM_LIMITED:
        return SendError(SendProblem.SPAM_LIMITED, detail)
    if code in TRANSIENT_CODES or status >= 500 or status == 408:
        return SendError(SendProblem.UNAVAILABLE, detail)
    return SendError(SendProblem.REJECTED, detail)


class OutsideWindow(SendError):
    """131047: free-form text outside the 24-hour window. The channel resends it as a template."""

    def __init__(self, detail: str) -> None:
        super().__init__(SendProblem.REJECTED, detail)
