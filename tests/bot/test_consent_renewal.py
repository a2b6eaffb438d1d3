"""A changed privacy notice: consent keeps its history; news (and digests) wait until a resident agrees to
the new version, who gets one message asking for it; alerts go on regardless."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot.service import Service
from broadcasts.model import Broadcast, Priority, State
from city.values import Channel
from tests.bot.conftest import Say, edit_city
from tests.bot.test_staff_flow import until_state
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.traces import traces

AGREES, WAITS = 7391846205, 7391846277
CHANGED = "Die Datenschutzerklärung des Stadtfunks hat sich geändert (Version 2027-01-01)."


async def subscribed(say: Say, chat: int) -> None:
    await say(chat, "/start")
    await say(chat, "/zustimmen")
    await say(chat, "/abo verkehr")


async def sent_and_done(service: Service, clock: ManualClock, text: str, priority: Priority) -> None:
    assert service.engine is not None
    engine = service.engine
    draft = Broadcast(id="", topics=("verkehr",), text_de=text, author="presse-redaktion", created_at=clock(),
                      priority=priority)  # fmt: skip
    created = await engine.store.create(draft)
    await engine.store.approve(created.id, created.version, "presse-freigabe")
    await engine.enqueue(created.id)
    await until_state(service, created.id, State.DONE.value)  # the service's own senders send it


def received(tg: FakeTelegram, chat: int) -> list[str]:
    return [str(call.params["text"]) for call in tg.sent(chat, "sendMessage")]


async def test_news_waits_for_consent_to_a_changed_notice_alerts_do_not(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, city_file: Path, redis: aioredis.Redis,
    key_prefix: str,
) -> None:  # fmt: skip
    for chat in (AGREES, WAITS):
        await subscribed(say, chat)
    edit_city(city_file, 'version: "2026-11-01"', 'version: "2027-01-01"')
    assert await service.reload_city()
    await say(AGREES, "/zustimmen")
    before = {chat: len(received(tg, chat)) for chat in (AGREES, WAITS)}

    # Planned before the upkeep listed who has not agreed yet: the planner asks each record.
    await sent_and_done(service, clock, "Erste Meldung: B7 gesperrt.", Priority.NEWS)
    assert service.privacy is not None
    assert service.storage is not None
    await service.privacy.once()
    awaiting = service.storage.keys.consent_awaiting(Channel.TELEGRAM)
    assert await redis.smembers(awaiting) == {str(WAITS)}, "listed: planning asks one list"
    await sent_and_done(service, clock, "Zweite Meldung: B7 wieder frei.", Priority.NEWS)
    await sent_and_done(service, clock, "Eilmeldung: Hochwasser an der Ruhr.", Priority.ALERT)
    agreed = received(tg, AGREES)[before[AGREES] :]
    waiting = received(tg, WAITS)[before[WAITS] :]
    assert len(agreed) == 3
    for text, expected in zip(agreed, ("Erste Meldung", "Zweite Meldung", "Hochwasser"), strict=True):
        assert expected in text
    assert len(waiting) == 2, waiting
    assert CHANGED in waiting[0], "one message asks to agree again, instead of the first news"
    assert "/zustimmen" in waiting[0]
    assert "Hochwasser" in waiting[1], "alerts go on"
    assert await redis.hget(f"{key_prefix}:res:{{tg:{WAITS}}}", "consent_asked") == "2027-01-01"

    await say(WAITS, "/zustimmen")
    assert await redis.smembers(awaiting) == set()
    await sent_and_done(service, clock, "Dritte Meldung: Umleitung aufgehoben.", Priority.NEWS)
    assert "Dritte Meldung" in received(tg, WAITS)[-1]


async def test_consent_keeps_every_version_agreed_to_and_my_data_shows_them(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, city_file: Path
) -> None:
    await say(AGREES, "/start")
    first = clock()
    await say(AGREES, "/zustimmen")
    edit_city(city_file, 'version: "2026-11-01"', 'version: "2027-01-01"')
    assert await service.reload_city()
    clock.advance(days=3)
    second = clock()
    await say(AGREES, "/zustimmen")
    await say(AGREES, "/zustimmen")  # agreeing again to the same version adds nothing
    [text, _] = await say(AGREES, "/meinedaten", replies=2)
    assert (
        "Zustimmung zur Datenschutzerklärung: Version 2026-11-01 am 23.11.2026 10:00; "
        "Version 2027-01-01 am 26.11.2026 10:00"
    ) in text
    exported = json.loads(tg.sent(AGREES, "sendDocument")[-1].params["document"].content)
    assert exported["consent"] == {
        "at": second.isoformat(),
        "privacy_notice_version": "2027-01-01",
        "history": [
            {"privacy_notice_version": "2026-11-01", "at": first.isoformat()},
            {"privacy_notice_version": "2027-01-01", "at": second.isoformat()},
        ],
    }


async def test_a_digest_reader_on_the_old_notice_gets_the_request_instead_of_the_digest(
    say: Say, tg: FakeTelegram, service: Service, clock: ManualClock, city_file: Path
) -> None:
    for chat in (AGREES, WAITS):
        await subscribed(say, chat)
        await say(chat, "/zustellung taeglich")
    edit_city(city_file, 'version: "2026-11-01"', 'version: "2027-01-01"')
    assert await service.reload_city()
    await say(AGREES, "/zustimmen")
    await sent_and_done(service, clock, "Ampel am Markt repariert.", Priority.NEWS)
    clock.current = clock().replace(hour=6, minute=0) + timedelta(days=1)  # 07:00 in Beispielstadt
    await service.upkeep_once()
    await tg.wait_for(lambda t: any("Tagesüberblick" in text for text in received(t, AGREES)))
    await tg.wait_for(lambda t: any(CHANGED in text for text in received(t, WAITS)))
    assert not any("Ampel am Markt" in text for text in received(tg, WAITS))


async def test_erasure_takes_a_resident_off_the_list_of_those_awaiting_consent(
    say: Say, service: Service, city_file: Path, redis: aioredis.Redis
) -> None:
    await subscribed(say, WAITS)
    edit_city(city_file, 'version: "2026-11-01"', 'version: "2027-01-01"')
    assert await service.reload_city()
    assert service.privacy is not None
    await service.privacy.once()
    assert await traces(redis, str(WAITS)), "listed as awaiting consent, beside the record"
    await say(WAITS, "/loeschen ja")
    assert await traces(redis, str(WAITS)) == []
