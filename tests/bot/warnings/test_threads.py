"""A warning's thread: updates and the all-clear to exactly the first version's recipients, as replies
or quotes; a warning that expires or leaves the dashboard closes without a message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.service import Service
from broadcasts.message_ids import MessageIds
from broadcasts.warning_threads import Stage, Threads
from city.values import Channel, Resident
from tests.bot.conftest import edit_city
from tests.bot.warnings.conftest import (
    TG_RESIDENTS,
    TOPIC,
    WA_RESIDENTS,
    broadcasts,
    poll,
    tg_texts,
    until_done,
)
from tests.bot.whatsapp.conftest import subscribe
from tests.conftest import ManualClock
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.warnings_api import FakeWarningsApi, Issued, Language


async def stage(service: Service, warning_id: str) -> Stage | None:
    assert service.storage is not None
    return (await Threads(service.storage.redis, service.storage.keys).get(warning_id)).stage


async def test_a_warning_that_leaves_the_dashboard_or_expires_is_closed_without_a_message(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram
) -> None:
    gone = api.issue(Issued(id="mow.gone"))
    expiring = api.issue(Issued(id="mow.expiring", expires=clock() + timedelta(minutes=3)))
    await poll(warned, clock)
    for sent in await broadcasts(warned):
        await until_done(warned, sent.id)
    delivered = [len(tg_texts(tg, chat)) for chat in TG_RESIDENTS]
    assert delivered == [2, 2]

    api.withdraw(gone.id)
    await poll(warned, clock)
    assert await stage(warned, gone.id) is Stage.CLOSED
    assert await stage(warned, expiring.id) is Stage.RELAYED

    await poll(warned, clock, seconds=180)  # unchanged dashboard (a 304), but the expiry has passed
    assert await stage(warned, expiring.id) is Stage.CLOSED
    api.update(expiring.id)  # a late version of a closed warning starts nothing
    await poll(warned, clock)
    assert len(await broadcasts(warned)) == 2
    assert [len(tg_texts(tg, chat)) for chat in TG_RESIDENTS] == delivered, "closed silently"


def original_ids(tg: FakeTelegram, graph: FakeGraph) -> dict[str, str]:
    """What each resident got first: Telegram message ids and WhatsApp wamids, by chat."""
    found = {chat: str(tg.sent(chat)[0].result_id) for chat in TG_RESIDENTS}
    return found | {number: str(graph.sent(number)[0].wamid) for number in WA_RESIDENTS}


@pytest.mark.every_redis_mode  # follow-ups read the first's message ids under its hash tag
async def test_an_update_and_the_all_clear_reach_exactly_the_first_recipients_as_replies_or_quotes(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph,
    city_file: Path,
) -> None:  # fmt: skip
    edit_city(city_file, "  min_severity: Moderate\n", "  min_severity: Severe\n")
    assert await warned.reload_city()
    assert warned.services is not None
    residents = warned.services.residents
    warning = api.issue(Issued())
    await poll(warned, clock)
    [first] = await broadcasts(warned)
    await until_done(warned, first.id)
    originals = original_ids(tg, graph)

    leaver = await residents.get(Resident(Channel.TELEGRAM, TG_RESIDENTS[1]))
    assert leaver is not None
    await residents.unsubscribe(leaver, [TOPIC], clock())
    await subscribe(warned, Channel.TELEGRAM, ["503"], topic=TOPIC)

    api.update(
        warning.id, severity="Extreme", infos=(Language(headline="Gefahrstoffaustritt weitet sich aus"),)
    )
    await poll(warned, clock)
    _, update = await broadcasts(warned)
    assert update.follows == first.id
    await until_done(warned, update.id)
    for chat in TG_RESIDENTS:  # the one who unsubscribed since too
        [reply] = [c for c in tg.sent(chat) if "weitet sich aus" in str(c.params.get("text"))]
        assert reply.params["reply_parameters"]["message_id"] == int(originals[chat])
    for number in WA_RESIDENTS:
        [quote] = [c for c in graph.sent(number) if "weitet sich aus" in c.text]
        assert quote.quoted == originals[number]
    assert tg_texts(tg, "503") == [], "subscribed after the warning: not in its thread"

    clear = Language(headline="Entwarnung: Gefahrstoffaustritt beendet", instruction="")
    api.update(warning.id, msg_type="Cancel", severity="Minor", infos=(clear,))
    clock.advance(seconds=60)
    assert warned.warnings is not None
    closing = clock()
    await warned.warnings.tick()
    closed = clock()
    *_, cleared = await broadcasts(warned)
    assert cleared.follows == first.id, "the all-clear goes, though Minor is below min_severity"
    await until_done(warned, cleared.id)
    for chat in TG_RESIDENTS:
        [reply] = [c for c in tg.sent(chat) if "Entwarnung" in str(c.params.get("text"))]
        assert reply.params["reply_parameters"]["message_id"] == int(originals[chat])
    [quote] = [c for c in graph.sent(WA_RESIDENTS[0]) if "Entwarnung" in c.text]
    assert quote.quoted == originals[WA_RESIDENTS[0]]
    assert await stage(warned, warning.id) is Stage.CLOSED
    assert warned.storage is not None
    ids = MessageIds(warned.storage.redis, warned.storage.keys)
    until = await ids.until(first.id)
    assert until is not None
    day = timedelta(days=1)
    assert closing + day - timedelta(seconds=1) <= until <= closed + day, "kept one day after the end"


async def test_erasure_removes_the_thread_ids_and_the_erased_resident_gets_no_update(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    assert warned.services is not None
    assert warned.storage is not None
    warning = api.issue(Issued())
    await poll(warned, clock)
    [first] = await broadcasts(warned)
    await until_done(warned, first.id)
    ids = MessageIds(warned.storage.redis, warned.storage.keys)
    erased = Resident(Channel.TELEGRAM, TG_RESIDENTS[0])
    kept = Resident(Channel.TELEGRAM, TG_RESIDENTS[1])
    assert await ids.ref(first.id, erased) is not None
    expires = Issued().expires
    assert expires is not None
    assert await ids.until(first.id) == expires + timedelta(days=1), "while active, and a day after"

    await warned.services.residents.erase(erased, [TOPIC])
    assert await ids.ref(first.id, erased) is None
    assert await ids.ref(first.id, kept) is not None

    api.update(warning.id)
    await poll(warned, clock)
    _, update = await broadcasts(warned)
    await until_done(warned, update.id)
    assert len(tg_texts(tg, erased.chat_id)) == 1, "only the warning itself, before the erasure"
    assert len(tg_texts(tg, kept.chat_id)) == 2


async def test_a_warning_first_seen_after_its_expiry_is_not_relayed(
    warned: Service, api: FakeWarningsApi, clock: ManualClock
) -> None:
    stale = Issued(id="mow.stale", expires=clock() - timedelta(minutes=1), infos=(Language(headline="Alt"),))
    api.issue(stale)
    await poll(warned, clock)
    assert await broadcasts(warned) == []
    assert await stage(warned, stale.id) is Stage.CLOSED
