"""The sandbox's messenger side: the outbox the test page reads, and the sandbox as a broadcast channel
that writes into it.

The outbox stands in for the people's phones, so it holds message texts; it lives in the memory of a
sandbox (loopback only, no messenger credentials) and in the sandbox's own chat store, so that a reload
or a restart shows the chats again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from bot.sandbox.event import Event
from bot.sandbox.store import ChatStore
from broadcasts.channel import Message, Pacing, Sent
from broadcasts.limiter import Rate
from broadcasts.outcome import SendError, SendProblem
from city.values import Channel
from handlers.values import Attachment, Button

# Enough for a long rehearsal, and a bound on the memory the page's messages take: the oldest go first.
# The page asks only for what it has not seen.
MAX_EVENTS = 5000
# Generous, so that a rehearsal broadcast is over in moments, but real: the shared limiter paces it.
SANDBOX_PACING = Pacing(overall=Rate(500), private_chat=Rate(20), group_chat=Rate(20))

__all__ = ["Event", "Outbox", "SandboxChannel"]


@dataclass(slots=True)
class Outbox:
    store: ChatStore | None = None
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    closed: set[str] = field(default_factory=set)  # chats whose person "blocked the bot"
    _seq: int = 0
    _messages: dict[int, str] = field(default_factory=dict)  # message -> chat
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def load(self) -> None:
        """What the chat store kept from before a restart; numbering goes on after it."""
        if self.store is None:
            return
        events, self.closed = await self.store.load()
        for event in events:
            self.events.append(event)
            if not event.edit:
                self._remember(event.message, event.chat)
            self._seq = max(self._seq, event.seq)

    async def post(
        self,
        chat: str,
        text: str,
        *,
        kind: str = "reply",
        buttons: tuple[tuple[Button, ...], ...] = (),
        attachment: Attachment | None = None,
    ) -> int:
        self._seq += 1
        self._remember(self._seq, chat)
        await self._add(Event(self._seq, chat, self._seq, text, kind, buttons, attachment))
        return self._seq

    async def edit(self, chat: str, message: int, text: str, buttons: tuple[tuple[Button, ...], ...]) -> bool:
        """Replace a message shown in `chat`; False if there is no such message there."""
        if self._messages.get(message) != chat:
            return False
        self._seq += 1
        await self._add(Event(self._seq, chat, message, text, "reply", buttons, edit=True))
        return True

    async def set_closed(self, chat: str, closed: bool) -> None:
        if (chat in self.closed) == closed:
            return
        (self.closed.add if closed else self.closed.discard)(chat)
        if self.store is not None:
            await self.store.close(chat, closed)

    async def forget(self, chat: str) -> None:
        """An erased person's chat: gone from the page's next load and from the store."""
        kept = [event for event in self.events if event.chat != chat]
        self.events.clear()
        self.events.extend(kept)
        self.closed.discard(chat)
        if self.store is not None:
            await self.store.forget(chat)

    def since(self, seq: int) -> list[Event]:
        return [event for event in self.events if event.seq > seq]

    def in_chat(self, chat: str) -> list[Event]:
        return [event for event in self.events if event.chat == chat]

    async def wait(self, seq: int) -> None:
        """Return when there is anything after `seq`; callers bound it with a timeout (a long poll)."""
        while self._seq <= seq:
            self._changed.clear()
            await self._changed.wait()

    def _remember(self, message: int, chat: str) -> None:
        self._messages[message] = chat
        if len(self._messages) > MAX_EVENTS:  # a message that long gone is not edited any more
            del self._messages[next(iter(self._messages))]

    async def _add(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()
        if self.store is not None:
            await self.store.append(event)


class SandboxChannel:
    """The sandbox as a broadcast channel: same queue, limiter and counters as Telegram's."""

    channel = Channel.SANDBOX
    pacing = SANDBOX_PACING

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, chat_id: str, message: Message) -> Sent:
        if chat_id in self.outbox.closed:
            raise SendError(SendProblem.BLOCKED, "the person closed this sandbox chat")
        if message.edit:
            shown = message.edit.isdecimal() and await self.outbox.edit(
                chat_id, int(message.edit), message.text, ()
            )
            if not shown:
                raise SendError(SendProblem.REJECTED, "message to edit not found")
            return Sent()
        text = f"[Bild: {message.image}]\n{message.text}" if message.image else message.text
        return Sent(ref=str(await self.outbox.post(chat_id, text, kind=message.kind)))
