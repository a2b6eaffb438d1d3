"""Commands by name (German first, English aliases) and the context a handler works with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from broadcasts.audit import AuditLog
from broadcasts.desk import Desk
from broadcasts.model import Broadcast
from broadcasts.sources import Sources
from broadcasts.timeline import Item
from city.config import City
from city.residents import Residents
from city.statistics import Snapshot
from city.values import Channel, Clock, Resident, ResidentRecord
from handlers.texts import Texts
from handlers.values import Inbound, Reply


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers may use. The city is a callable because a reload swaps it while running."""

    residents: Residents
    city: Callable[[], City]
    texts: Texts
    clock: Clock
    desk: Desk
    # A broadcast as recipients read it, in a language: the engine's own rendering.
    render: Callable[[Broadcast, str], str]
    # Messages per second each channel delivers at its platform limit, for delivery-time estimates.
    limits: Mapping[Channel, float]
    # Aggregate figures for /statistik, as of now.
    statistics: Callable[[], Awaitable[Snapshot]]
    # A topic's latest published items, for a new subscriber.
    recent_items: Callable[[str, int], Awaitable[list[Item]]]
    # The messages a digest reader's next digest would hold as of now, for one who switches to "sofort".
    pending_digest: Callable[[ResidentRecord], Awaitable[list[str]]]
    # Where data-protection requests (export, erasure) are recorded, without whose they were.
    audit: AuditLog
    # WhatsApp recipients outside their 24-hour window (they get a template); None without WhatsApp.
    templates_needed: Callable[[Broadcast], Awaitable[int]] | None = None
    # The state of polled sources (press feeds), for /quellen; None where nothing is polled.
    sources: Sources | None = None


@dataclass(frozen=True, slots=True)
class Context:
    inbound: Inbound
    command: str
    args: str
    language: str
    record: ResidentRecord | None
    services: Services

    @property
    def resident(self) -> Resident:
        return Resident(self.inbound.channel, self.inbound.chat_id)

    @property
    def city(self) -> City:
        return self.services.city()

    def t(self, key: str, /, **values: object) -> str:
        return self.services.texts(self.language, key, **values)

    def typed(self, command: str) -> str:
        """A command as it is typed on the messenger the message came from: WhatsApp has no slash commands."""
        return command.upper() if self.inbound.channel is Channel.WHATSAPP else f"/{command}"

    def not_understood(self) -> str:
        """The answer to anything unknown, naming help as this messenger types it."""
        return self.t("unknown_whatsapp" if self.inbound.channel is Channel.WHATSAPP else "unknown")


Handler = Callable[[Context], Awaitable[list[Reply]]]


class Router:
    """A table of commands; each handler module fills its own router and the conversation joins them."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                if name in self._handlers:
                    raise ValueError(f"command /{name} is registered twice")
                self._handlers[name] = handler
            return handler

        return register

    def include(self, other: Router) -> None:
        for name, handler in other._handlers.items():
            self.command(name)(handler)

    def find(self, name: str) -> Handler | None:
        return self._handlers.get(name)
