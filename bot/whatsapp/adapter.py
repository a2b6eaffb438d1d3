"""The WhatsApp adapter: webhook notifications in (messages and statuses), the core's replies out.

Notification shapes: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components.
Every field is read defensively: a body is verified as Meta's, but its content may still surprise.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bot.whatsapp.api import WhatsAppAPI, classify_code
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.marks import WhatsAppMarks
from bot.whatsapp.payloads import Body, addressed, document, reply_bodies
from broadcasts.engine import Engine
from broadcasts.outcome import SendError, SendProblem
from broadcasts.reply_pacer import ReplyPacer
from broadcasts.store import Reported
from city.residents import Residents
from city.values import Channel, Resident
from handlers.conversation import Conversation
from handlers.values import Inbound, Reply

log = logging.getLogger(__name__)

# Kinds that carry no text for the core; with a caption, the caption is what the person said.
CAPTIONED = frozenset({"image", "video", "document"})
# Answered with the same hint as unknown text ("schreiben Sie HILFE"): the person wrote to us.
WORDLESS = frozenset({"audio", "sticker", "location", "contacts", "unsupported", "unknown", "order"})
# Not addressed to anyone: a reaction to an earlier message, a number change notice.
IGNORED = frozenset({"reaction", "system", "ephemeral", "request_welcome"})
BROADCAST_TAG = re.compile(r"^[0-9]{1,18}$")
LATER_COUNTERS = {"delivered": Reported.DELIVERED, "read": Reported.READ, "failed": Reported.UNDELIVERED}

Elsewhere = Callable[[list[Reply]], Awaitable[None]]


class WhatsAppAdapter:
    def __init__(
        self,
        *,
        api: WhatsAppAPI,
        channel: WhatsAppChannel,
        phone_number_id: str,
        conversation: Conversation,
        residents: Residents,
        marks: WhatsAppMarks,
        engine: Engine,
        pacer: ReplyPacer,
        clock: Callable[[], datetime],
        elsewhere: Elsewhere | None = None,
    ) -> None:
        self._api = api
        self._channel = channel
        self._number = phone_number_id
        self._conversation = conversation
        self._residents = residents
        self._marks = marks
        self._engine = engine
        self._pacer = pacer
        self._clock = clock
        self._elsewhere = elsewhere

    async def process(self, entry_id: str, body: str) -> None:
        """Handle one stored notification. Raises only when storage fails, so that it is retried."""
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("whatsapp notification is not JSON")
            return
        # One body may carry the same message twice; the marks let a retried entry through, this not.
        handled: set[str] = set()
        for value in _values(payload):
            metadata = value.get("metadata")
            if isinstance(metadata, dict) and str(metadata.get("phone_number_id", "")) != self._number:
                continue  # for another number of the same app
            user_ids = {
                str(c["wa_id"]): str(c["user_id"])
                for c in _dicts(value, "contacts")
                if isinstance(c.get("wa_id"), str) and isinstance(c.get("user_id"), str)
            }
            for message in _dicts(value, "messages"):
                if _once(handled, message.get("id")):
                    await self._message(entry_id, message, user_ids)
            for status in _dicts(value, "statuses"):
                if _once(handled, (status.get("id"), status.get("status"))):
                    await self._status(entry_id, status)
            for error in _dicts(value, "errors"):
                log.warning("whatsapp reports an error: code %s", _code(error))

    async def _message(self, entry_id: str, message: dict[str, Any], user_ids: dict[str, str]) -> None:
        chat_id = _text(message.get("from")) or _text(message.get("from_user_id"))
        wamid = _text(message.get("id"))
        kind = _text(message.get("type"))
        if not chat_id or not wamid or len(chat_id) > 64 or len(wamid) > 256:
            return
        if not await self._marks.first_time(chat_id, wamid, entry_id):
            return  # Meta delivered it before
        at = _time(message.get("timestamp"), self._clock())
        await self._marks.note_inbound(chat_id, at)
        if kind in IGNORED:
            return
        await self._quietly(self._api.mark_read(wamid))
        text, is_button = _what_was_said(kind, message)
        inbound = Inbound(
            channel=Channel.WHATSAPP,
            chat_id=chat_id,
            sender_id=chat_id,
            text=text,
            message_id=wamid,
            at=at,
            is_button=is_button,
        )
        user_id = user_ids.get(chat_id) or _text(message.get("from_user_id"))
        await self._remember(chat_id, user_id)
        replies = await self._conversation.handle(inbound)
        # Again afterwards: this very message may have been the consent that makes keeping it lawful.
        await self._remember(chat_id, user_id)
        await self.deliver(chat_id, replies)

    async def _remember(self, chat_id: str, user_id: str) -> None:
        """Keep the business-scoped user id beside the number, for residents who agreed."""
        if user_id and user_id != chat_id and len(user_id) <= 128:
            await self._residents.remember(Resident(Channel.WHATSAPP, chat_id), "whatsapp_user_id", user_id)

    async def _status(self, entry_id: str, status: dict[str, Any]) -> None:
        state = _text(status.get("status"))
        recipient = _text(status.get("recipient_id")) or _text(status.get("recipient_user_id"))
        wamid = _text(status.get("id"))
        if state not in LATER_COUNTERS or not recipient or not wamid:
            return  # "sent" was counted when the API accepted the message
        if not await self._marks.first_time(recipient, f"{wamid}:{state}", entry_id):
            return
        tag = _text(status.get("biz_opaque_callback_data"))
        if BROADCAST_TAG.match(tag):
            # Aggregate only: which resident read what is not kept.
            await self._engine.store.count_reported(tag, Channel.WHATSAPP, LATER_COUNTERS[state])
        if state == "failed":
            codes = [_code(error) for error in _dicts(status, "errors")]
            log.info("whatsapp message failed later: codes %s", codes)
            for code in codes:
                problem = classify_code(code, f"code {code}").problem
                if problem is SendProblem.BLOCKED:
                    await self._residents.mark_inactive(Resident(Channel.WHATSAPP, recipient), self._clock())
                elif problem is SendProblem.SPAM_LIMITED and BROADCAST_TAG.match(tag):
                    await self._spam_limited(tag)

    async def _spam_limited(self, broadcast_id: str) -> None:
        """Meta throttles our number as spam: the engine decides the pause, the service tells the author."""
        if (notice := await self._engine.spam_limited(broadcast_id)) is not None:
            self._engine.notices.put_nowait(notice)

    async def deliver(self, chat_id: str, replies: list[Reply]) -> None:
        """Answer the person who wrote; notifications for other people go to their messenger."""
        other: list[Reply] = []
        for reply in replies:
            if reply.to is not None and reply.to.channel is not Channel.WHATSAPP:
                other.append(reply)
                continue
            target = reply.to.chat_id if reply.to is not None else chat_id
            try:
                if reply.to is not None and not await self._marks.window_open(target, self._clock()):
                    # Staff who have not written for a day get the city's staff template.
                    await self._paced(target, partial(self._staff_template, target, reply))
                else:
                    await self._send_reply(target, reply)
            except SendError as error:
                if error.problem is SendProblem.BLOCKED:
                    await self._residents.mark_inactive(Resident(Channel.WHATSAPP, target), self._clock())
                log.warning("whatsapp reply not delivered: %s", error.problem.value)
                if target == chat_id:
                    break
        if other and self._elsewhere is not None:
            await self._elsewhere(other)

    async def _send_reply(self, chat_id: str, reply: Reply) -> None:
        for content in reply_bodies(reply):
            await self._paced(chat_id, partial(self._post, chat_id, content))
        if reply.attachment is not None:
            attachment = reply.attachment
            media_id = await self._api.upload(attachment.content, attachment.filename, attachment.mime_type)
            await self._paced(chat_id, partial(self._post, chat_id, document(media_id, attachment.filename)))

    async def _staff_template(self, chat_id: str, reply: Reply) -> None:
        await self._channel.send_template(chat_id, "staff", reply.text, "de")

    async def _post(self, chat_id: str, content: Body) -> None:
        await self._api.send(json.dumps(addressed(chat_id, content)).encode())

    async def _paced(self, chat_id: str, send: Callable[[], Awaitable[object]]) -> None:
        await self._pacer.send(chat_id, send, group=False)

    async def _quietly(self, call: Awaitable[object]) -> None:
        try:
            await call
        except SendError as error:
            log.info("whatsapp mark-as-read failed: %s", error.problem.value)


def _what_was_said(kind: str, message: dict[str, Any]) -> tuple[str, bool]:
    """The text the core reads, and whether it came from one of our buttons (its id is the command)."""
    if kind == "text":
        return _text(_dict(message, "text").get("body")), False
    if kind == "interactive":
        interactive = _dict(message, "interactive")
        for reply_kind in ("button_reply", "list_reply"):
            chosen = _dict(interactive, reply_kind)
            if chosen:
                return _text(chosen.get("id")) or _text(chosen.get("title")), True
        return "", False
    if kind == "button":
        # A template's quick-reply button: its payload is what the city set in Meta's manager.
        button = _dict(message, "button")
        return _text(button.get("payload")) or _text(button.get("text")), False
    if kind in CAPTIONED:
        return _text(_dict(message, kind).get("caption")), False
    return "", False


def _once(handled: set[str], identity: Any) -> bool:
    key = repr(identity)
    if key in handled:
        return False
    handled.add(key)
    return True


def _values(payload: Any) -> list[dict[str, Any]]:
    values = []
    for entry in _dicts(payload, "entry"):
        for change in _dicts(entry, "changes"):
            value = change.get("value")
            if change.get("field") == "messages" and isinstance(value, dict):
                values.append(value)
    return values


def _dicts(container: Any, key: str) -> list[dict[str, Any]]:
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _dict(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _code(error: dict[str, Any]) -> int | None:
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _time(value: Any, now: datetime) -> datetime:
    """When the person wrote; a retried notification may be days old. Never later than now."""
    try:
        at = datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return min(at, now)
