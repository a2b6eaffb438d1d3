"""An engine wired as the service wires it, against the Bot API stand-in, a real Redis and virtual time."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.assembly import Editorial, build_editorial, build_engine, limiter_for, residents_for
from bot.settings import DEFAULT_CITY_FILE
from bot.storage.client import Storage
from bot.storage.idhash import IdHasher
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from broadcasts.audit import AuditLog, Via
from broadcasts.desk_values import Actor
from broadcasts.engine import Engine
from broadcasts.model import Broadcast
from broadcasts.store import BroadcastStore
from city.config import City, load_city
from city.keys import Keys
from city.residents import Residents
from city.values import Channel, Resident, ResidentRecord
from tests.bot.conftest import Sleeps
from tests.conftest import TOKEN, ManualClock, parametrize_by_redis_mode
from tests.fakes.telegram_api import FakeTelegram

CITY = load_city(DEFAULT_CITY_FILE)
AUDIT_SECRET = b"test-audit-secret-of-32-bytes..."


def actor(staff_id: str, via: Via = Via.TELEGRAM, city: City = CITY) -> Actor:
    """A staff member of the example city acting from a messenger, as the desk takes them."""
    member = city.staff_member(staff_id)
    assert member is not None
    return Actor(member, via)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The engine's and scheduler's tests hold for one server, a Sentinel service and a Cluster alike."""
    parametrize_by_redis_mode(metafunc)


@dataclass
class Rig:
    tg: FakeTelegram
    redis: aioredis.Redis
    keys: Keys
    clock: ManualClock
    sleeps: Sleeps
    residents: Residents
    engine: Engine
    make_engine: Callable[[str], Engine]

    @property
    def store(self) -> BroadcastStore:
        return self.engine.store

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.redis, self.keys, AUDIT_SECRET)

    def editorial(self, engine: Engine | None = None, city: City = CITY) -> Editorial:
        """The desk and scheduler as the service wires them, on this rig's engine."""
        return build_editorial(
            redis=self.redis,
            keys=self.keys,
            engine=engine or self.engine,
            city=lambda: city,
            residents=self.residents,
            clock=self.clock,
            audit=self.audit,
        )

    async def subscribe(
        self, chats: Iterable[int | str], topic: str = "verkehr", language: str = "de", *, daily: bool = False
    ) -> None:
        for chat in chats:
            resident = Resident(Channel.TELEGRAM, str(chat))
            await self.residents.consent(
                resident, language=language, version=CITY.privacy.version, at=self.clock()
            )
            record = await self.residents.get(resident)
            assert record is not None
            await self.residents.subscribe(record, topic, self.clock())
            if daily:
                subscribed = await self.residents.get(resident)
                assert subscribed is not None
                await self.residents.set_daily(subscribed, True, self.clock())

    async def record(self, chat: int | str) -> ResidentRecord:
        found = await self.residents.get(Resident(Channel.TELEGRAM, str(chat)))
        assert found is not None
        return found

    async def broadcast(
        self,
        topics: tuple[str, ...] = ("verkehr",),
        text: str = "Sperrung der B7",
        image: bytes | None = None,
        **fields: object,
    ) -> Broadcast:
        draft = Broadcast(
            id="",
            topics=topics,
            text_de=text,
            author="presse-redaktion",
            created_at=self.clock(),
            **fields,  # type: ignore[arg-type]
        )
        created = await self.store.create(draft, image=image)
        await self.store.approve(created.id, created.version, "presse-freigabe")
        return created

    async def send(self, broadcast_id: str) -> None:
        await self.engine.enqueue(broadcast_id)
        await self.wait_planned(broadcast_id)

    async def wait_planned(self, broadcast_id: str) -> None:
        for _ in range(10_000):
            if (await self.store.progress(broadcast_id)).planned:
                return
            await asyncio.sleep(0)
        raise AssertionError("planning did not finish")

    async def drain(
        self,
        engine: Engine | None = None,
        *,
        until: Callable[[], Awaitable[bool]] | None = None,
        max_steps: int = 10_000,
    ) -> None:
        """Step the senders in virtual time until nothing is active and no sender has anything to come
        back for (or `until` holds). A cancelled broadcast is no longer active while a batch of it may
        still be on the wire: its outcome must be settled before the test reads the figures."""
        engine = engine or self.engine
        for _ in range(max_steps):
            if until is not None and await until():
                return
            waits = [wait for sender in engine.senders if (wait := await sender.step()) is not None]
            if until is None and not waits and not await self.redis.zcard(self.keys.active(Channel.TELEGRAM)):
                return
            if waits and min(waits) > 0:
                await self.sleeps(min(waits))
        raise AssertionError(f"not drained after {max_steps} steps:\n{self.tg.dump()}")

    def delivered(self, chat: int | str | None = None) -> list[str]:
        """What residents read: Telegram renders the HTML the engine sends."""
        return [html.unescape(str(c.params["text"])) for c in self.tg.sent(chat, "sendMessage")]


SECRET = b"test-secret-of-sixteen-bytes"


@asynccontextmanager
async def build_rig(
    redis: aioredis.Redis,
    key_prefix: str,
    clock: ManualClock,
    hasher: Callable[[str], str] | None = None,
) -> AsyncIterator[Rig]:
    hasher = hasher or IdHasher(SECRET)
    sleeps = Sleeps(clock)
    keys = Keys(key_prefix)
    storage = Storage(redis, keys, None)
    residents = residents_for(storage, CITY.tz, hasher)
    async with (
        FakeTelegram(token=TOKEN, clock=lambda: clock().timestamp()) as tg,
        aiohttp.ClientSession() as session,
    ):
        client = TelegramChannel(TelegramAPI(session, tg.url, TOKEN), 30)
        limiter = limiter_for(storage, client, "123456", 0.01)

        def make_engine(worker: str) -> Engine:
            return build_engine(
                storage=storage,
                city=lambda: CITY,
                channels=[(client, limiter)],
                care=residents,
                hasher=hasher,
                worker=worker,
                clock=clock,
                sleep=sleeps,
            )

        yield Rig(tg, redis, keys, clock, sleeps, residents, make_engine("worker-a"), make_engine)


@pytest.fixture
async def rig(redis: aioredis.Redis, key_prefix: str, clock: ManualClock) -> AsyncIterator[Rig]:
    async with build_rig(redis, key_prefix, clock) as built:
        yield built
