"""The WhatsApp adapter: acts on webhook notifications (read into values by bot/whatsapp/inbound.py)
and sends the core's replies out."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from bot.inbox.claim import Claim
from bot.inbox.lanes import Job
from bot.inbox.turn import Turn, Turns
from bot.outbound import Outbound
from bot.whatsapp.api import WhatsAppAPI, classify_code
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.inbound import IncomingMessage, StatusUpdate, parse
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

# What we echo in biz_opaque_callback_data: a broadcast id ("42", "digest-2026-11-24", "12-20261130").
BROADCAST_TAG = re.compile(r"^[a-z0-9-]{1,40}$")
LATER_COUNTERS = {"delivered": Reported.DELIVERED, "read": Reported.READ, "failed": Reported.UNDELIVERED}


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
        turns: Turns,
        clock: Callable[[], datetime],
        outbound: Outbound,
    ) -> None:
        self._turns = turns
        self._api = api
        self._channel = channel
        self._number = phone_number_id
        self._conversation = conversation
        self._residents = residents
        self._marks = marks
        self._engine = engine
        self._pacer = pacer
        self._clock = clock
        self._outbound = outbound

    def split(self, entry_id: str, body: str) -> list[tuple[str, Job]]:
        """A stored notification as jobs: each message in its chat's lane, each status beside them."""
        notification = parse(body, self._number)
        if notification is None:
            log.warning("whatsapp notification is not JSON")
            return []
        for code in notification.error_codes:
            log.warning("whatsapp reports an error: code %s", code)
        jobs = [
            self._turns.job(self._turn(entry_id, index, message))
            for index, message in enumerate(notification.messages)
        ]
        for status in notification.statuses:
            jobs.append((f"whatsapp-status:{status.recipient}", partial(self._status, entry_id, status)))
        return jobs

    def _turn(self, entry_id: str, index: int, message: IncomingMessage) -> Turn:
        now = self._clock()
        inbound = Inbound(
            channel=Channel.WHATSAPP,
            chat_id=message.chat_id,
            sender_id=message.chat_id,
            text=message.text,
            message_id=message.message_id,
            # A retried notification may be days old; a clock on Meta's side never makes it later than now.
            at=min(message.at, now) if message.at is not None else now,
            is_button=message.is_button,
        )
        return Turn(
            entry_id=entry_id,
            index=index,
            inbound=inbound,
            origin={},
            claim=partial(self._claim, entry_id, inbound),
            finish=partial(self._marks.finish, message.chat_id, message.message_id, entry_id),
            handle=partial(self._handle, message),
            deliver=lambda replies, _: self.deliver(message.chat_id, replies),
        )

    async def _claim(self, entry_id: str, inbound: Inbound) -> Claim:
        claim = await self._marks.claim(inbound.chat_id, inbound.message_id, entry_id)
        if claim is Claim.NEW:
            # Whatever becomes of the message, the resident wrote: their window runs from then.
            await self._marks.note_inbound(inbound.chat_id, inbound.at)
        return claim

    async def _handle(self, message: IncomingMessage, inbound: Inbound) -> list[Reply]:
        if message.ignored:
            return []
        await self._quietly(self._api.mark_read(message.message_id))
        await self._remember(message.chat_id, message.user_id)
        replies = await self._conversation.handle(inbound)
        # Again afterwards: this very message may have been the consent that makes keeping it lawful.
        await self._remember(message.chat_id, message.user_id)
        return replies

    async def _remember(self, chat_id: str, user_id: str) -> None:
        """Keep the business-scoped user id beside the number, for residents who agreed."""
        if user_id and user_id != chat_id and len(user_id) <= 128:
            await self._residents.remember(Resident(Channel.WHATSAPP, chat_id), "whatsapp_user_id", user_id)

    async def _status(self, entry_id: str, status: StatusUpdate) -> None:
        if status.state not in LATER_COUNTERS:
            return  # "sent" was counted when the API accepted the message
        mark = f"{status.message_id}:{status.state}"
        if await self._marks.claim(status.recipient, mark, entry_id) is not Claim.NEW:
            return
        await self._counted(status)
        await self._marks.finish(status.recipient, mark, entry_id)

    async def _counted(self, status: StatusUpdate) -> None:
        state, recipient, tag = status.state, status.recipient, status.tag
        if BROADCAST_TAG.match(tag):
            # Aggregate only: which resident read what is not kept.
            await self._engine.store.count_reported(tag, Channel.WHATSAPP, LATER_COUNTERS[state])
        if state == "failed":
            log.info("whatsapp message failed later: codes %s", list(status.error_codes))
            for code in status.error_codes:
                problem = classify_code(code, f"code {code}").problem
                if problem is SendProblem.BLOCKED:
                    await self._residents.mark_inactive(Resident(Channel.WHATSAPP, recipient), self._clock())
                elif problem is SendProblem.SPAM_LIMITED and BROADCAST_TAG.match(tag):
                    await self._spam_limited(tag)

    async def _spam_limited(self, broadcast_id: str) -> None:
        """Meta throttles our number as spam: the engine decides the pause, the service tells the author."""
        if (notice := await self._engine.spam_limited(broadcast_id)) is not None:
            self._engine.notices.put_nowait(notice)

    async def notify(self, replies: list[Reply]) -> None:
        """Notifications addressed to WhatsApp chats (reply.to), from the outbound router."""
        await self.deliver("", replies)

    async def deliver(self, chat_id: str, replies: list[Reply]) -> None:
        """Answer the person who wrote; notifications for other messengers go to the outbound router."""
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
        if other:
            await self._outbound.send(other)

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
