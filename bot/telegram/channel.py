"""Telegram as a broadcast channel: pre-encoded sendMessage bodies, an image uploaded once then reused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from bot.telegram.api import JSON_TYPE, MAX_TEXT, TelegramAPI, escape
from broadcasts.channel import Message, Pacing
from broadcasts.limiter import Rate
from broadcasts.render import split_text
from city.values import Channel

# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
PRIVATE_CHAT = Rate(1, 1.0)
GROUP_CHAT = Rate(20, 60.0)
# https://core.telegram.org/bots/api#sendphoto: captions are limited to 1024 characters.
MAX_CAPTION = 1024


class TelegramChannel:
    channel = Channel.TELEGRAM

    def __init__(self, api: TelegramAPI, rate_per_s: float, *, paid_broadcast: bool = False) -> None:
        self._api = api
        self.pacing = Pacing(overall=Rate(rate_per_s), private_chat=PRIVATE_CHAT, group_chat=GROUP_CHAT)
        self._paid = paid_broadcast
        self._bodies: dict[str, tuple[bytes, ...]] = {}

    def is_group(self, chat_id: str) -> bool:
        # Private chats have positive ids; groups, supergroups and channels negative ones or @names.
        return chat_id.startswith(("-", "@"))

    async def send(self, chat_id: str, message: Message) -> str | None:
        if message.image_path:
            return await self._send_with_image(chat_id, message)
        for suffix in self._suffixes(message.text):
            body = b'{"chat_id":' + json.dumps(chat_id).encode() + suffix
            await self._api.post("sendMessage", body, JSON_TYPE, want_result=False)
        return None

    def _suffixes(self, text: str) -> tuple[bytes, ...]:
        """Everything after the chat id, encoded once per text instead of once per resident."""
        if text not in self._bodies:
            if len(self._bodies) > 64:
                self._bodies.clear()
            self._bodies[text] = tuple(
                b"," + json.dumps(self._params(part))[1:].encode() for part in split_text(text, MAX_TEXT)
            )
        return self._bodies[text]

    def _params(self, text: str) -> dict[str, Any]:
        params: dict[str, Any] = {"text": escape(text), "parse_mode": "HTML"}
        if self._paid:
            params["allow_paid_broadcast"] = True
        return params

    async def _send_with_image(self, chat_id: str, message: Message) -> str | None:
        caption = message.text if len(message.text) <= MAX_CAPTION else None
        if message.image_ref:
            params = {"chat_id": chat_id, "photo": message.image_ref, **self._caption(caption)}
            await self._api.call("sendPhoto", params)
            uploaded = None
        else:
            form = aiohttp.FormData()
            form.add_field("chat_id", chat_id)
            for name, value in self._caption(caption).items():
                form.add_field(name, value)
            path = Path(message.image_path or "")
            # Read once per broadcast and channel; a thread keeps the event loop free meanwhile.
            form.add_field("photo", await asyncio.to_thread(path.read_bytes), filename=path.name)
            result = await self._api.post("sendPhoto", form)
            # The largest size comes last; its file_id serves every later send.
            uploaded = str(result["photo"][-1]["file_id"])
        if caption is None:
            await self.send(chat_id, Message(message.text))
        return uploaded

    def _caption(self, caption: str | None) -> dict[str, str]:
        return {"caption": escape(caption), "parse_mode": "HTML"} if caption else {}
