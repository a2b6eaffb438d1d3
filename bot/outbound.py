"""The outbound router: replies addressed to people (`reply.to`) go to the adapter of their messenger.

Adapters answer the chat that wrote themselves; everything addressed elsewhere (an approver told of a
draft, an author told of a pause) comes here, so that no adapter knows another and nothing calls back
up into the service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from city.values import Channel
from handlers.values import Reply

log = logging.getLogger(__name__)

Deliver = Callable[[list[Reply]], Awaitable[None]]


class Outbound:
    def __init__(self) -> None:
        self._adapters: dict[Channel, Deliver] = {}
        self._everything: Deliver | None = None

    def register(self, channel: Channel, deliver: Deliver) -> None:
        self._adapters[channel] = deliver

    def show_everything_in(self, deliver: Deliver) -> None:
        """The sandbox page shows every notice, in the chat of the staff member it is addressed to."""
        self._everything = deliver

    async def send(self, replies: list[Reply]) -> None:
        addressed = [reply for reply in replies if reply.to is not None]
        if len(addressed) < len(replies):
            log.error("%d replies without an addressee dropped", len(replies) - len(addressed))
        if not addressed:
            return
        if self._everything is not None:
            await self._everything(addressed)
            return
        for channel in Channel:
            mine = [reply for reply in addressed if reply.to is not None and reply.to.channel is channel]
            if not mine:
                continue
            deliver = self._adapters.get(channel)
            if deliver is None:
                log.info("%d notices for %s not delivered: messenger not configured", len(mine), channel)
                continue
            await deliver(mine)
