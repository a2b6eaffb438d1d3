"""The aiohttp server: health, readiness and the Telegram and WhatsApp webhooks."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.telegram.receiver import WEBHOOK_PATH
from bot.whatsapp import webhook as whatsapp_webhook

log = logging.getLogger(__name__)

# Telegram updates are a few kilobytes; anything far larger is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)

Ready = Callable[[], Awaitable[bool]]
Accept = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WhatsAppHook:
    """What the WhatsApp webhook needs: the two secrets and where verified bodies are stored."""

    verify_token: str
    app_secret: str
    accept: Callable[[str], Awaitable[None]]


def build_app(
    ready: Ready,
    telegram_accept: Accept | None = None,
    telegram_secret: str | None = None,
    whatsapp: WhatsAppHook | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        ok = await ready()
        return web.json_response({"status": "ready" if ok else "not ready"}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if telegram_accept is not None and telegram_secret:
        app.router.add_post(WEBHOOK_PATH, _telegram_webhook(telegram_accept, telegram_secret))
    if whatsapp is not None:
        path = whatsapp_webhook.WEBHOOK_PATH
        app.router.add_get(path, whatsapp_webhook.verification(whatsapp.verify_token))
        app.router.add_post(path, whatsapp_webhook.receiver(whatsapp.app_secret, whatsapp.accept))
    return app


def _telegram_webhook(accept: Accept, secret: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Stored in the inbox before the 200: Telegram sends again what got none, and never what got one."""
    expected = secret.encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram webhook: wrong or missing secret token")
            return web.Response(status=403)
        try:
            body = (await request.read()).decode("utf-8")
            payload = json.loads(body)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return web.Response(status=400, text="not a Telegram update")
        try:
            await accept(body)
        except Exception as exc:  # Redis away: not stored, so not acknowledged, and Telegram sends it again
            log.error("telegram webhook: could not store an update: %s", type(exc).__name__)
            return web.Response(status=503)
        return web.Response(status=200)

    return handle
