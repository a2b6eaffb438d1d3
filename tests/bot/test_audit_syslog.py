"""The audit log's copy out of Redis's reach: every entry, in order, as RFC 5424 to a syslog listener on
loopback, checkable on its own against the chain's keyed hashes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.service import Service
from bot.storage.idhash import audit_secret
from broadcasts.audit_chain import Break, Link, check
from tests.bot.conftest import Say, Sleeps, approve
from tests.bot.test_staff_flow import APPROVER, EDITOR, notified
from tests.conftest import ManualClock
from tests.fakes.syslog import Message, SyslogListener
from tests.fakes.telegram_api import FakeTelegram

FIELDS = ("who", "action", "broadcast", "version", "via", "os_user", "detail")


@pytest.fixture(params=["udp", "tcp"])
async def syslog(request: pytest.FixtureRequest) -> AsyncIterator[SyslogListener]:
    async with SyslogListener(request.param) as listener:
        yield listener


@pytest.fixture
async def service(
    tg: FakeTelegram,
    make_settings: Any,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
    city_file: Path,
    syslog: SyslogListener,
) -> AsyncIterator[Service]:
    settings = make_settings(telegram_api_url=tg.url, city_config=city_file, audit_syslog=syslog.url)
    running = Service(settings, clock=clock, sleep=sleeps)
    await running.start()
    yield running
    await running.stop()


def chain_of(messages: list[Message], secret: bytes) -> Link | Break:
    """Check the copy on its own, as an auditor holding the secret would."""
    link: Link | Break = Link()
    for message in sorted(messages, key=lambda m: int(m.body["n"])):
        assert isinstance(link, Link)
        body = message.body
        fields = {name: str(body[name]) for name in FIELDS if body.get(name)}
        link = check(secret, link, body["id"], {**fields, "n": str(body["n"]), "mac": body["mac"]})
    return link


async def test_every_audit_entry_reaches_the_syslog_listener(
    say: Say, tg: FakeTelegram, service: Service, syslog: SyslogListener
) -> None:
    await say(EDITOR, "/meldung verkehr Sperrung der B7")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    assert service.audit_shipper is not None
    await service.audit_shipper.ship()
    messages = await syslog.wait_for(4)  # draft, submit, approve, send
    assert [(m.body["who"], m.msgid) for m in messages] == [
        ("presse-redaktion", "draft"),
        ("presse-redaktion", "submit"),
        ("presse-freigabe", "approve"),
        ("presse-freigabe", "send"),
    ]
    first = messages[0]
    assert (first.facility, first.severity, first.app) == (13, 5, "stadtfunk")  # log audit, notice
    assert first.timestamp == "2026-11-23T09:00:00.000Z", "the entry's time: its stream id"
    assert {m.body["via"] for m in messages} == {"telegram"}
    assert messages[2].body["version"] == messages[3].body["version"] != ""
    link = chain_of(messages, audit_secret(service.settings))
    assert link == Link(4, messages[-1].body["mac"]), "the copy checks out against the chain"

    await service.audit_shipper.ship()  # nothing twice
    await say(EDITOR, "/offen")
    assert len(syslog.received) == 4


async def test_a_collector_that_was_down_gets_everything_in_order_when_it_is_back(
    say: Say, tg: FakeTelegram, service: Service, syslog: SyslogListener
) -> None:
    if syslog.transport == "udp":
        pytest.skip("over UDP a listener that is down is not noticed: RFC 5426 promises no delivery")
    assert service.audit_shipper is not None
    await syslog.stop()
    for number in range(1, 4):
        await say(EDITOR, f"/meldung verkehr Meldung {number}")
    await service.audit_shipper.ship()  # refused: the entries stay to be copied
    assert syslog.received == []
    await syslog.start()
    await service.audit_shipper.ship()
    messages = await syslog.wait_for(3)
    assert [m.body["n"] for m in messages] == [1, 2, 3]
    assert [m.body["broadcast"] for m in messages] == ["1", "2", "3"]
