"""The WhatsApp webhook: verify, store durably, answer 200, and only then process.

Meta expects an answer within seconds, retries what got none for up to 7 days, and never resends what
got a 200 (https://developers.facebook.com/docs/graph-api/webhooks/getting-started). So a POST is
checked (X-Hub-Signature-256 over the raw body, before anything is parsed), appended to the inbox
(bot/inbox/stream.py), and acknowledged; the inbox is worked off afterwards.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
# Meta's notifications are a few kilobytes, batches of them well under a megabyte.
MAX_BODY_BYTES = 1024 * 1024

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
        if not _signed(header, key, raw):
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


def _signed(header: str, key: bytes, raw: bytes) -> bool:
    """The header is the HMAC-SHA256 of the raw body under the app secret, in hex of either case. The
    one-shot hmac.digest runs in C: the HMAC object would cost each webhook several Python calls."""
    given = header.strip()
    if given[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    try:
        signature = bytes.fromhex(given[len(SIGNATURE_PREFIX) :])
    except ValueError:
        return False
    return hmac.compare_digest(signature, hmac.digest(key, raw, "sha256"))
