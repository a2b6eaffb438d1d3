"""A warning's thread: updates and the all-clear to exactly the first version's recipients, as replies
or quotes; a warning that expires or leaves the dashboard closes without a message."""

from __future__ import annotations

from datetime import timedelta

from bot.service import Service
from broadcasts.warning_threads import Stage, Threads
from tests.bot.warnings.conftest import TG_RESIDENTS, broadcasts, poll, tg_texts, until_done
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.warnings_api import FakeWarningsApi, Issued


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
