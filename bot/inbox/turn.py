"""One message's turn, the same for every messenger: counted once, let through the flood gate, handled
by the conversation, its answers kept, marked handled, and then queued for sending in its chat's lane.

Each adapter supplies what differs: how a message is claimed and marked (Telegram by update id, WhatsApp
by wamid), what it does around the conversation, and how answers reach its chat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.inbox.answers import Answers, Json
from bot.inbox.claim import Claim
from bot.inbox.flood import FloodGate, Verdict
from bot.inbox.lanes import Job, Send
from handlers.conversation import Conversation
from handlers.values import Inbound, Reply

MAX_DECIDED = 4096


@dataclass(frozen=True, slots=True)
class Turn:
    entry_id: str
    index: int  # the message's place in its entry (a WhatsApp body may carry several)
    inbound: Inbound
    origin: Json  # what the adapter needs to answer it (a pressed button's ids), kept with the answers
    claim: Callable[[], Awaitable[Claim]]
    finish: Callable[[], Awaitable[None]]
    # The conversation with whatever the adapter does around it (a read receipt, a remembered id).
    handle: Callable[[Inbound], Awaitable[list[Reply]]]
    deliver: Callable[[list[Reply], Json], Awaitable[None]]

    @property
    def lane(self) -> str:
        return f"{self.inbound.channel.value}:{self.inbound.chat_id}"


class Turns:
    def __init__(self, answers: Answers, flood: FloodGate, conversation: Conversation) -> None:
        self._answers = answers
        self._flood = flood
        self._conversation = conversation
        # A message whose handling failed is tried again (bot/inbox/lanes.py): counted once, decided once.
        self._decided: dict[tuple[str, int], Verdict] = {}

    def job(self, turn: Turn) -> tuple[str, Job]:
        return turn.lane, lambda: self._take(turn)

    async def _take(self, turn: Turn) -> Send | None:
        claim = await turn.claim()
        if claim is Claim.DUPLICATE:
            return None
        if claim is Claim.HANDLED:
            kept = await self._answers.load(turn.entry_id, turn.index)
            return self._sending(turn, *kept) if kept is not None else None
        replies = await self._replies(turn)
        if replies:
            await self._answers.keep(turn.entry_id, turn.index, replies, turn.origin)
        await turn.finish()
        return self._sending(turn, replies, turn.origin) if replies else None

    async def _replies(self, turn: Turn) -> list[Reply]:
        inbound = turn.inbound
        if self._conversation.is_staff(inbound):
            return await turn.handle(inbound)
        key = (turn.entry_id, turn.index)
        verdict = self._decided.get(key) or self._flood.admit(turn.lane, inbound.at.timestamp())
        if len(self._decided) >= MAX_DECIDED:  # left by messages given up on: only ever a few
            self._decided.clear()
        self._decided[key] = verdict
        match verdict:
            case Verdict.HANDLE:
                replies = await turn.handle(inbound)
            case Verdict.NOTICE:
                replies = await self._conversation.flood_notice(inbound, self._flood.window_s)
            case Verdict.DROP:
                replies = []
        del self._decided[key]
        return replies

    def _sending(self, turn: Turn, replies: list[Reply], origin: Json) -> Send:
        async def send() -> None:
            await turn.deliver(replies, origin)
            await self._answers.sent(turn.entry_id, turn.index)

        return send
