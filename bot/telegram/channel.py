"""Telegram as a broadcast channel: pre-encoded sendMessage bodies, an image uploaded once then reused.

A send answers a reference to what it sent, kept for corrections (broadcasts/message_ids.py): the
message ids, comma-separated, each marked by what it holds: `123` a text, `c123` a photo with its
caption, `p123` a photo whose text followed in messages of its own (a caption holds 1024 characters).
A message with `reply_to` answers the first of them; one with `edit` changes them in place.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.telegram.api import MAX_TEXT, TelegramAPI, escape
from broadcasts.channel import Message, Pacing, Sent
from broadcasts.limiter import Rate
from broadcasts.outcome import SendError, SendProblem
from broadcasts.render import split_text
from city.values import Channel

# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
PRIVATE_CHAT = Rate(1, 1.0)
GROUP_CHAT = Rate(20, 60.0)
# https://core.telegram.org/bots/api#sendphoto: captions are limited to 1024 characters.
MAX_CAPTION = 1024
CAPTIONED, PHOTO = "c", "p"


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

    async def send(self, chat_id: str, message: Message) -> Sent:
        if message.edit:
            await self._edit(chat_id, message.edit, message.text)
            return Sent()
        if message.image:
            return await self._send_with_image(chat_id, message)
        return Sent(ref=await self._send_text(chat_id, message.text, message.reply_to))

    async def _send_text(self, chat_id: str, text: str, reply_to: str | None) -> str:
        head = b'{"chat_id":' + json.dumps(chat_id).encode()
        if reply_to:
            head += b',"reply_parameters":' + json.dumps(_reply(reply_to)).encode()
        ids = []
        for suffix in self._suffixes(text):
            ids.append(str(await self._api.post_for_id("sendMessage", head + suffix) or ""))
            head = b'{"chat_id":' + json.dumps(chat_id).encode()  # only the first part is the reply
        return ",".join(ids)

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

    async def _send_with_image(self, chat_id: str, message: Message) -> Sent:
        caption = message.text if len(message.text) <= MAX_CAPTION else None
        reply = {"reply_parameters": _reply(message.reply_to)} if message.reply_to else {}
        if message.image_ref:
            params = {"chat_id": chat_id, "photo": message.image_ref, **self._caption(caption), **reply}
            result = await self._api.call("sendPhoto", params)
            uploaded = None
        else:
            form = aiohttp.FormData()
            form.add_field("chat_id", chat_id)
            for name, value in self._caption(caption).items():
                form.add_field(name, value)
            if message.reply_to:
                form.add_field("reply_parameters", json.dumps(reply["reply_parameters"]))
            form.add_field("photo", message.image_data or b"", filename=message.image)
            result = await self._api.post("sendPhoto", form)
            # The largest size comes last; its file_id serves every later send.
            uploaded = str(result["photo"][-1]["file_id"])
        photo = f"{CAPTIONED if caption is not None else PHOTO}{result['message_id']}"
        if caption is None:
            rest = await self._send_text(chat_id, message.text, None)
            return Sent(ref=f"{photo},{rest}", image_ref=uploaded)
        return Sent(ref=photo, image_ref=uploaded)

    def _caption(self, caption: str | None) -> dict[str, str]:
        return {"caption": escape(caption), "parse_mode": "HTML"} if caption else {}

    async def _edit(self, chat_id: str, ref: str, text: str) -> None:
        """The first message that holds text gets `text`; any further one (the rest of a long text) only
        its first line, so that nothing of the old text stands."""
        first = True
        for item in ref.split(","):
            if not item or item.startswith(PHOTO):
                continue
            content = text if first else text.split("\n", 1)[0]
            first = False
            if item.startswith(CAPTIONED):
                method = "editMessageCaption"
                params: dict[str, Any] = {"caption": escape(_cut(content, MAX_CAPTION))}
            else:
                method, params = "editMessageText", {"text": escape(_cut(content, MAX_TEXT))}
            params |= {"chat_id": chat_id, "message_id": int(item.lstrip(CAPTIONED)), "parse_mode": "HTML"}
            try:
                await self._api.call(method, params)
            except SendError as error:
                if error.problem is not SendProblem.UNCHANGED:  # unchanged: edited before (a retry)
                    raise


def first_message_id(ref: str) -> int:
    """The message a reply answers: the first one sent."""
    return int(ref.split(",", 1)[0].lstrip(CAPTIONED + PHOTO))


def _reply(ref: str) -> dict[str, Any]:
    # Sent all the same when the resident deleted the original: the reply then stands alone.
    return {"message_id": first_message_id(ref), "allow_sending_without_reply": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
