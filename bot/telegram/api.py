"""A lean Bot API client on aiohttp for every call stadtfunk makes, with Telegram's errors mapped here only.

Receiving goes through it too (bot/telegram/receiver.py: getUpdates), and updates are read by
bot/telegram/updates.py: python-telegram-bot's per-call overhead would cap broadcast throughput (see
docs/benchmarks.md), and its in-memory update queue would lose what a crash catches in it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from broadcasts.outcome import SendError, SendProblem
from handlers.values import Attachment, Button

JSON_TYPE = "application/json"
JSON_HEADERS = {"Content-Type": JSON_TYPE}
# https://core.telegram.org/bots/api#sendmessage: 1-4096 characters after entities parsing.
MAX_TEXT = 4096
# https://core.telegram.org/bots/api#inlinekeyboardbutton: callback_data is 1-64 bytes.
MAX_CALLBACK_BYTES = 64


class TelegramAPI:
    def __init__(self, session: aiohttp.ClientSession, api_url: str, token: str) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/bot{token}/"

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        return await self.post(method, json.dumps(params).encode(), JSON_TYPE)

    async def post(
        self,
        method: str,
        body: bytes | aiohttp.FormData,
        content_type: str | None = None,
        *,
        want_result: bool = True,
    ) -> Any:
        """POST a prepared body; the result on success, SendError otherwise. Broadcasts pre-encode bodies."""
        headers = JSON_HEADERS if content_type == JSON_TYPE else None
        try:
            async with self._session.post(self._base + method, data=body, headers=headers) as response:
                if response.status == 200 and not want_result:
                    # The hot path: a broadcast needs only to know that it went through. The unread
                    # answer is dropped on release; its connection is reused once the answer is in whole
                    # (a short one always is), else closed: never wrong, at worst a new connection.
                    return None
                payload = await _json(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(SendProblem.UNAVAILABLE, type(exc).__name__) from None
        return _result(response.status, payload)

    async def send_text(self, chat_id: str, text: str, buttons: Sequence[Sequence[Button]] = ()) -> int:
        """Send a message; returns its message id (the progress reporter edits it later)."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": escape(text), "parse_mode": "HTML"}
        if buttons:
            params["reply_markup"] = keyboard(buttons)
        message = await self.call("sendMessage", params)
        return int(message["message_id"])

    async def edit_text(
        self, chat_id: str, message_id: int, text: str, buttons: Sequence[Sequence[Button]] = ()
    ) -> None:
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": escape(text),
            "parse_mode": "HTML",
            "reply_markup": keyboard(buttons),
        }
        await self.call("editMessageText", params)

    async def answer_callback(self, callback_id: str) -> None:
        await self.call("answerCallbackQuery", {"callback_query_id": callback_id})

    async def send_document(self, chat_id: str, attachment: Attachment) -> None:
        form = aiohttp.FormData()
        form.add_field("chat_id", chat_id)
        form.add_field(
            "document", attachment.content, filename=attachment.filename, content_type=attachment.mime_type
        )
        await self.post("sendDocument", form)


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def keyboard(rows: Sequence[Sequence[Button]]) -> dict[str, Any]:
    inline = []
    for row in rows:
        for button in row:
            if len(button.command.encode()) > MAX_CALLBACK_BYTES:
                raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes for a button")
        inline.append([{"text": button.label, "callback_data": button.command} for button in row])
    return {"inline_keyboard": inline}


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        payload = json.loads(await response.read())
    except ValueError:
        return {"ok": False, "description": f"HTTP {response.status} without a JSON body"}
    return payload if isinstance(payload, dict) else {"ok": False, "description": "unexpected JSON"}


def _result(status: int, payload: dict[str, Any]) -> Any:
    if status == 200 and payload.get("ok"):
        return payload.get("result")
    raise classify(status, payload)


def classify(status: int, payload: dict[str, Any]) -> SendError:
    """Map a Bot API error (https://core.telegram.org/bots/api#making-requests) to a SendProblem."""
    description = str(payload.get("description", ""))
    parameters = payload.get("parameters") or {}
    lowered = description.lower()
    if status == 429:
        return SendError(
            SendProblem.RATE_LIMITED, description, retry_after=float(parameters.get("retry_after", 1))
        )
    if "migrate_to_chat_id" in parameters:
        return SendError(SendProblem.MIGRATED, description, migrate_to=str(parameters["migrate_to_chat_id"]))
    if status >= 500 or status in (408, 502, 503, 504):
        return SendError(SendProblem.UNAVAILABLE, description or f"HTTP {status}")
    if status == 403:
        return SendError(SendProblem.BLOCKED, description)
    if "chat not found" in lowered:
        return SendError(SendProblem.CHAT_NOT_FOUND, description)
    if "message is not modified" in lowered:
        return SendError(SendProblem.UNCHANGED, description)
    return SendError(SendProblem.REJECTED, description or f"HTTP {status}")
