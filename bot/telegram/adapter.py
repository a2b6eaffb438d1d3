"""The Telegram adapter: updates from the inbox read into the core's values, the core answers, TelegramAPI
replies. Receiving (webhook or polling) is bot/telegram/receiver.py; it only stores what arrives."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from bot.inbox.answers import Json
from bot.inbox.lanes import Job
from bot.inbox.turn import Turn, Turns
from bot.outbound import Outbound
from bot.telegram.api import MAX_TEXT, TelegramAPI
from bot.telegram.marks import TelegramMarks
from bot.telegram.updates import Origin, Update, read_update
from broadcasts.outcome import SendError, SendProblem
from broadcasts.render import split_text
from broadcasts.reply_pacer import ReplyPacer
from city.residents import Residents
from city.values import Channel, Resident
from handlers.conversation import Conversation
from handlers.values import Reply

log = logging.getLogger(__name__)


class TelegramAdapter:
    def __init__(
        self,
        *,
        api: TelegramAPI,
        conversation: Conversation,
        residents: Residents,
        marks: TelegramMarks,
        turns: Turns,
        pacer: ReplyPacer,
        clock: Callable[[], datetime],
        outbound: Outbound,
    ) -> None:
        self._api = api
        self._outbound = outbound
        self._pacer = pacer
        self._conversation = conversation
        self._residents = residents
        self._marks = marks
        self._turns = turns
        self._clock = clock

    def split(self, entry_id: str, body: str) -> list[tuple[str, Job]]:
        """A stored update as a job in its chat's lane; nothing for kinds stadtfunk ignores on purpose."""
        update = read_update(body, self._clock)
        if update is None:
            return []
        turn = Turn(
            entry_id=entry_id,
            index=0,
            inbound=update.inbound,
            origin=update.origin.to_json(),
            claim=partial(self._marks.claim, update.update_id, entry_id),
            finish=partial(self._marks.finish, update.update_id, entry_id),
            handle=self._conversation.handle,
            deliver=partial(self._answer, update),
        )
        return [self._turns.job(turn)]

    async def _answer(self, update: Update, replies: list[Reply], origin: Json) -> None:
        kept = Origin.from_json(origin)
        if kept.callback_id is not None:
            # Telegram shows a spinner on the button until the query is answered.
            await self._quietly(self._api.answer_callback(kept.callback_id))
        await self.deliver(update.inbound.chat_id, replies, kept)

    async def notify(self, replies: list[Reply]) -> None:
        """Notifications addressed to Telegram chats (reply.to), from the outbound router."""
        await self.deliver("", replies, Origin(None, None))

    async def deliver(self, chat_id: str, replies: list[Reply], origin: Origin) -> None:
        """Answer the chat that wrote, and deliver notifications addressed to other Telegram chats;
        those for other messengers go to the outbound router."""
        other = [r for r in replies if r.to is not None and r.to.channel is not Channel.TELEGRAM]
        if other:
            await self._outbound.send(other)
        for reply in replies:
            target, reply_origin = chat_id, origin
            if reply.to is not None:
                if reply.to.channel is not Channel.TELEGRAM:
                    continue
                target, reply_origin = reply.to.chat_id, Origin(None, None)
            try:
                await self._deliver_one(target, reply, reply_origin)
            except SendError as error:
                if error.problem is SendProblem.BLOCKED:
                    await self._residents.mark_inactive(Resident(Channel.TELEGRAM, target), self._clock())
                log.warning("telegram reply not delivered: %s", error.problem.value)
                if target == chat_id:
                    return

    async def _deliver_one(self, chat_id: str, reply: Reply, origin: Origin) -> None:
        parts = split_text(reply.text, MAX_TEXT)
        if reply.replace and origin.message_id is not None and len(parts) == 1:
            await self._pacer.wait_turn(chat_id, group=chat_id.startswith("-"))
            try:
                await self._api.edit_text(chat_id, origin.message_id, reply.text, reply.buttons)
            except SendError as error:
                if error.problem is not SendProblem.UNCHANGED:
                    raise
            return
        for index, part in enumerate(parts):
            buttons = reply.buttons if index == len(parts) - 1 else ()
            await self._with_retry(chat_id, partial(self._api.send_text, chat_id, part, buttons))
        if reply.attachment is not None:
            await self._with_retry(chat_id, partial(self._api.send_document, chat_id, reply.attachment))

    async def _with_retry(self, chat_id: str, send: Callable[[], Awaitable[object]]) -> None:
        await self._pacer.send(chat_id, send, group=chat_id.startswith("-"))

    async def _quietly(self, call: Awaitable[object]) -> None:
        try:
            await call
        except SendError as error:
            log.info("telegram callback answer failed: %s", error.problem.value)
