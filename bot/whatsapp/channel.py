"""WhatsApp as a broadcast channel: free-form inside the resident's 24-hour window, the city's approved
template outside it, an image uploaded once and sent by its media id.

A send answers the wamid of its first message as its reference (kept for corrections); a message with
`reply_to` quotes that message (`context.message_id`). The Cloud API cannot edit what was sent, so an
edit is refused: a correction reaches WhatsApp as a quoting follow-up instead."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from datetime import datetime

from bot.whatsapp.api import OutsideWindow, WhatsAppAPI
from bot.whatsapp.marks import WhatsAppMarks
from bot.whatsapp.payloads import MAX_CAPTION, MAX_TEXT, Body, addressed, image, template, text
from broadcasts.channel import Message, Pacing, Sent
from broadcasts.limiter import Rate
from broadcasts.outcome import SendError, SendProblem
from broadcasts.render import split_text
from city.config import City
from city.values import Channel

# Meta's pair rate limit: about one message every 6 s to the same person (error 131056).
PAIR_RATE = Rate(1, 6.0)
# Conversation replies: a short burst of answers is fine (Meta allows bursts), a second each keeps it calm.
REPLY_PAIR_RATE = Rate(1, 1.0)


class WhatsAppChannel:
    channel = Channel.WHATSAPP

    def __init__(
        self,
        api: WhatsAppAPI,
        rate_per_s: float,
        marks: WhatsAppMarks,
        city: Callable[[], City],
        clock: Callable[[], datetime],
    ) -> None:
        self._api = api
        self._marks = marks
        self._city = city
        self._clock = clock
        self.pacing = Pacing(overall=Rate(rate_per_s), private_chat=PAIR_RATE, group_chat=PAIR_RATE)
        self.reply_pacing = Pacing(
            overall=self.pacing.overall, private_chat=REPLY_PAIR_RATE, group_chat=REPLY_PAIR_RATE
        )

    def is_group(self, chat_id: str) -> bool:
        return False  # stadtfunk writes to people only on WhatsApp

    async def send(self, chat_id: str, message: Message) -> Sent:
        if message.edit:
            raise SendError(SendProblem.REJECTED, "WhatsApp cannot edit a message")
        if await self._marks.window_open(chat_id, self._clock()):
            try:
                return await self._free_form(chat_id, message)
            except OutsideWindow:
                pass  # the window closed meanwhile (or was never open here): the template goes instead
        ref = await self.send_template(
            chat_id, message.kind, message.text, message.language, tag=message.tag, reply_to=message.reply_to
        )
        return Sent(ref=ref)

    async def send_template(
        self,
        chat_id: str,
        kind: str,
        content: str,
        language: str,
        *,
        tag: str | None = None,
        reply_to: str | None = None,
    ) -> str | None:
        """The city's template for `kind`; its wamid. WhatsApp shows no quote above a template, but the
        context links it to the original all the same."""
        city = self._city()
        spec = city.whatsapp_templates.for_kind(kind)
        if spec is None:
            raise SendError(SendProblem.REJECTED, f"outside the 24-hour window and no {kind} template")
        body = template(spec, language, {"text": content, "city": city.name})
        return await self._send(chat_id, body, tag, reply_to)

    async def _free_form(self, chat_id: str, message: Message) -> Sent:
        uploaded = None
        parts = split_text(message.text, MAX_TEXT)
        tag, reply_to, first = message.tag, message.reply_to, None
        if message.image:
            media_id = message.image_ref
            if media_id is None:
                media_id = uploaded = await self._upload(message.image, message.image_data or b"")
            caption = message.text if len(message.text) <= MAX_CAPTION else None
            first = await self._send(chat_id, image(media_id, caption), tag, reply_to)
            tag = reply_to = None
            if caption is not None:
                return Sent(ref=first, image_ref=uploaded)
        for part in parts:
            wamid = await self._send(chat_id, text(part), tag, reply_to)
            first = first or wamid
            tag = reply_to = None  # delivered and read count once per resident, on the first part
        return Sent(ref=first, image_ref=uploaded)

    async def _upload(self, name: str, content: bytes) -> str:
        mime = mimetypes.guess_type(name)[0] or "image/jpeg"
        return await self._api.upload(content, name, mime)

    async def _send(
        self, chat_id: str, content: Body, tag: str | None, reply_to: str | None = None
    ) -> str | None:
        return await self._api.send(json.dumps(addressed(chat_id, content, tag, reply_to)).encode())
