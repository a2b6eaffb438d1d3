"""Scheduled, repeating and held news and daily digests, through the desk, the scheduler and the engine
against the Bot API stand-in, in virtual time."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.assembly import Editorial
from broadcasts.audit import Action
from broadcasts.calendar import Recurrence
from broadcasts.model import Broadcast, Hold, Priority, State
from broadcasts.scheduler import DIGEST_PREFIX
from broadcasts.version import short
from city.config import City
from tests.broadcasts.conftest import CITY, Rig, actor

BERLIN = CITY.tz
EDITOR, APPROVER, ADMIN = "presse-redaktion", "presse-freigabe", "presse-leitung"


def at(local: str) -> datetime:
    """A wall-clock time in the city, as the aware UTC moment the service works with."""
    return datetime.fromisoformat(local).replace(tzinfo=BERLIN).astimezone(UTC)


def editorial(rig: Rig, worker: str | None = None, city: City = CITY) -> Editorial:
    return rig.editorial(rig.make_engine(worker) if worker else rig.engine, city)


async def approved(
    ed: Editorial,
    text: str,
    *,
    topic: str = "verkehr",
    when: datetime | None = None,
    english: str | None = None,
    recurrence: Recurrence | None = None,
) -> Broadcast:
    """News drafted by the editor and approved by a second person, as the desk requires."""
    draft = await ed.desk.draft(
        actor(EDITOR),
        topics=(topic,),
        text_de=text,
        text_en=english,
        scheduled_for=when,
        recurrence=recurrence,
    )
    await ed.desk.submit(actor(EDITOR), draft.id)
    return await ed.desk.approve(actor(APPROVER), draft.id, short(draft.version))


async def start(rig: Rig, local: str, ed: Editorial) -> None:
    """The service's first start: nothing from before is caught up."""
    rig.clock.current = at(local)
    assert await ed.scheduler.run_due(rig.clock()) == []


async def tick(rig: Rig, local: str, *editorials: Editorial) -> list[str]:
    """Time moves to `local`; every process looks for what is due; the senders deliver it."""
    rig.clock.current = at(local)
    notices = []
    for ed in editorials:
        notices += await ed.scheduler.run_due(rig.clock())
    await settle(rig)
    return [notice.key for notice in notices]


async def settle(rig: Rig) -> None:
    for _ in range(50):  # planning runs as a task of the engine that won the broadcast
        await asyncio.sleep(0)
    await rig.drain()


async def digests(rig: Rig) -> list[Broadcast]:
    return [b for b in await rig.store.recent(100) if b.id.startswith(DIGEST_PREFIX)]


async def test_a_daily_digest_groups_each_residents_topics_in_their_language(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 08:00", ed)
    await rig.subscribe([1, 2], daily=True)
    await rig.subscribe([1], topic="kultur", daily=True)
    await rig.subscribe([3], language="en", daily=True)
    await rig.subscribe([4])  # every item at once
    rig.clock.advance(minutes=1)
    await approved(ed, "Sperrung der B7", english="B7 closed")
    await approved(ed, "Museumsnacht am Samstag", topic="kultur")
    await approved(ed, "Ampel am Markt repariert")
    await settle(rig)
    assert len(rig.delivered(4)) == 2, "residents who want it at once get each verkehr item"
    assert rig.delivered(1) == rig.delivered(2) == rig.delivered(3) == [], "digest readers wait"

    await tick(rig, "2026-11-24 07:00", ed)
    [first] = rig.delivered(1)
    assert first.startswith("🗞️ Ihr Tagesüberblick · Beispielstadt · 24.11.2026")
    assert first.index("Verkehr") < first.index("Sperrung der B7") < first.index("Ampel am Markt")
    assert first.index("Kultur") < first.index("Museumsnacht")
    [second] = rig.delivered(2)
    assert "Sperrung der B7" in second
    assert "Museumsnacht" not in second, "only the resident's own topics"
    [english] = rig.delivered(3)
    assert english.startswith("🗞️ Your daily digest")
    assert "Traffic" in english
    assert "B7 closed" in english
    assert "Ampel am Markt repariert" in english, "German where no English text exists"
    assert len(rig.delivered(4)) == 2, "no digest for those who get every item at once"

    await tick(rig, "2026-11-24 07:30", ed)
    await tick(rig, "2026-11-25 07:00", ed)  # nothing new was published
    assert [len(rig.delivered(c)) for c in (1, 2, 3)] == [1, 1, 1], "one digest a day, none when empty"
    assert [b.id for b in await digests(rig)] == ["digest-2026-11-25", "digest-2026-11-24"]


async def test_news_in_the_quiet_hours_waits_and_alerts_do_not(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 21:00", ed)
    await rig.subscribe([4])
    await rig.subscribe([5], daily=True)
    await rig.subscribe([4, 5], topic="feuerwehr")
    rig.clock.advance(minutes=1)
    await tick(rig, "2026-11-23 23:00", ed)
    held = await approved(ed, "Nachtbaustelle auf der A46")
    assert (held.state, held.held) == (State.HELD, Hold.QUIET)
    assert held.scheduled_for == at("2026-11-24 07:00")
    alert = await ed.desk.draft(
        actor("feuerwehr-lagedienst"), topics=("feuerwehr",), text_de="Großbrand", priority=Priority.ALERT
    )
    await ed.desk.submit(actor("feuerwehr-lagedienst"), alert.id)
    await ed.desk.approve(actor(APPROVER), alert.id, short(alert.version))
    await settle(rig)
    assert ["Großbrand" in text for text in rig.delivered(4)] == [True], "the alert, not the news"
    assert ["Großbrand" in text for text in rig.delivered(5)] == [True], "digest readers get alerts at once"

    await tick(rig, "2026-11-24 06:59", ed)
    assert len(rig.delivered(4)) == 1
    await tick(rig, "2026-11-24 07:00", ed)
    assert "Nachtbaustelle auf der A46" in rig.delivered(4)[-1], "released when the quiet hours end"
    digest = rig.delivered(5)[-1]
    assert "Nachtbaustelle" in digest
    assert "Großbrand" not in digest, "alerts are not repeated in the digest"
    await tick(rig, "2026-11-24 08:00", ed)
    assert [len(rig.delivered(4)), len(rig.delivered(5))] == [2, 2], "each exactly once"


async def test_scheduled_news_falling_into_quiet_hours_is_held_until_they_end(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 12:00", ed)
    await rig.subscribe([4])
    planned = await approved(ed, "Glättewarnung für morgen", when=at("2026-11-23 23:30"))
    assert planned.state is State.SCHEDULED
    assert ed.desk.quiet_until(at("2026-11-23 23:30")) == at("2026-11-24 07:00")
    await tick(rig, "2026-11-23 23:30", ed)
    assert rig.delivered(4) == []
    found = await rig.store.get(planned.id)
    assert found is not None
    assert (found.state, found.held) == (State.HELD, Hold.QUIET)
    await tick(rig, "2026-11-24 07:00", ed)
    assert ["Glättewarnung" in text for text in rig.delivered(4)] == [True]


async def test_two_processes_fire_a_scheduled_broadcast_a_repeat_and_a_digest_exactly_once(rig: Rig) -> None:
    first, second = editorial(rig), editorial(rig, "worker-b")
    await start(rig, "2026-11-23 08:00", first)
    await rig.subscribe(range(1, 21))
    await rig.subscribe(range(21, 41), daily=True)
    rig.clock.advance(minutes=1)
    once = await approved(first, "Sperrung ab 18 Uhr", when=at("2026-11-23 18:00"))
    weekly = await approved(
        second, "Gelbe Säcke rausstellen", when=None, recurrence=Recurrence(time(18, 0), weekday=0)
    )
    assert weekly.scheduled_for == at("2026-11-23 18:00")

    for _ in range(3):  # both processes look at the same moments, at once
        rig.clock.current = at("2026-11-23 18:00")
        await asyncio.gather(first.scheduler.run_due(rig.clock()), second.scheduler.run_due(rig.clock()))
    await settle(rig)
    for chat in range(1, 21):
        texts = rig.delivered(chat)
        assert sorted(t.split("\n\n")[1] for t in texts) == ["Gelbe Säcke rausstellen", "Sperrung ab 18 Uhr"]
    rig.clock.current = at("2026-11-24 07:00")
    await asyncio.gather(first.scheduler.run_due(rig.clock()), second.scheduler.run_due(rig.clock()))
    await settle(rig)
    for chat in range(21, 41):
        [digest] = rig.delivered(chat)
        assert "Sperrung ab 18 Uhr" in digest
        assert "Gelbe Säcke" in digest
    sends = [e async for e in rig.audit.since(datetime(2000, 1, 1, tzinfo=UTC))]
    sent_ids = sorted(e.broadcast_id or "" for e in sends if e.action == Action.SEND and e.who == "system")
    assert sent_ids == sorted([once.id, f"{weekly.id}-20261123", "digest-2026-11-24"])
    series = await rig.store.get(weekly.id)
    assert series is not None
    assert series.scheduled_for == at("2026-11-30 18:00")


async def test_repeating_news_goes_out_each_week_until_cancelled(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 08:00", ed)
    await rig.subscribe([4])
    weekly = await approved(ed, "Biotonne", recurrence=Recurrence(time(18, 0), weekday=0))
    await tick(rig, "2026-11-23 18:00", ed)
    await tick(rig, "2026-11-30 18:00", ed)
    await tick(rig, "2026-12-01 18:00", ed)  # a Tuesday: nothing
    assert len(rig.delivered(4)) == 2
    await ed.desk.cancel(actor(EDITOR), weekly.id)
    await tick(rig, "2026-12-07 18:00", ed)
    assert len(rig.delivered(4)) == 2, "a cancelled series sends nothing more"
    assert await rig.redis.zcard(rig.keys.schedule()) == 0, "and leaves no index entry behind"


@pytest.mark.parametrize("restart", ["just before", "at", "at, after queueing", "just after"])
async def test_a_restart_around_the_due_time_sends_exactly_once(rig: Rig, restart: str) -> None:
    before = editorial(rig)
    await start(rig, "2026-11-23 08:00", before)
    await rig.subscribe(range(1, 6))
    planned = await approved(before, "Sperrung", when=at("2026-11-23 18:00"))
    if restart == "just before":
        await tick(rig, "2026-11-23 17:59", before)
    elif restart == "at":
        await tick(rig, "2026-11-23 18:00", before)  # fired, then the process died
    elif restart == "at, after queueing":  # the claim was made, the process died before sending
        await rig.store.transition(planned.id, State.QUEUED, expect=State.SCHEDULED)
    after = editorial(rig, "worker-b")  # the restarted process
    await tick(rig, "2026-11-23 18:02" if restart == "just after" else "2026-11-23 18:00", after)
    await tick(rig, "2026-11-23 18:05", after)
    assert [len(rig.delivered(chat)) for chat in range(1, 6)] == [1] * 5
    assert await rig.store.state(planned.id) is State.DONE


async def test_missed_while_down_is_sent_within_the_grace_and_held_after_it(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 08:00", ed)
    await rig.subscribe([4])
    await approved(ed, "Innerhalb der Frist", when=at("2026-11-23 18:00"))
    beyond = await approved(ed, "Zu spät", when=at("2026-11-23 19:00"))
    assert await tick(rig, "2026-11-23 18:25", ed) == []
    assert ["Innerhalb der Frist" in t for t in rig.delivered(4)] == [True]
    assert await tick(rig, "2026-11-23 19:31", ed) == ["staff_missed_author"]
    held = await rig.store.get(beyond.id)
    assert held is not None
    assert (held.state, held.held) == (State.HELD, Hold.MISSED)
    assert [b.id for b in await ed.desk.open_items(actor(EDITOR))] == [beyond.id]
    await tick(rig, "2026-11-24 12:00", ed)
    assert len(rig.delivered(4)) == 1, "a missed broadcast waits for a person"
    await ed.desk.approve(actor(EDITOR), beyond.id, None)  # the author decides it still matters
    await settle(rig)
    assert "Zu spät" in rig.delivered(4)[-1]


async def test_a_digest_missed_while_down_is_held_and_the_next_one_covers_it(rig: Rig) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 08:00", ed)
    await rig.subscribe([5], daily=True)
    rig.clock.advance(minutes=1)
    await approved(ed, "Meldung vom Montag")
    assert await tick(rig, "2026-11-24 07:20", ed) == [], "20 minutes late: within the grace"
    assert "Meldung vom Montag" in rig.delivered(5)[-1]
    await approved(ed, "Meldung vom Dienstag")
    # Down from before 07:00 until 09:00 on Wednesday: beyond the grace.
    notices = await tick(rig, "2026-11-25 09:00", ed)
    assert notices == ["staff_digest_missed"], "the admin is told"
    assert len(rig.delivered(5)) == 1
    held = await rig.store.get("digest-2026-11-25")
    assert held is not None
    assert (held.state, held.held) == (State.HELD, Hold.MISSED)
    await approved(ed, "Meldung vom Mittwoch")
    await tick(rig, "2026-11-26 07:00", ed)
    latest = rig.delivered(5)[-1]
    assert "Meldung vom Dienstag" in latest
    assert "Meldung vom Mittwoch" in latest
    assert "Meldung vom Montag" not in latest
    assert await rig.store.state("digest-2026-11-25") is State.CANCELLED, "superseded by the next one"


@pytest.mark.parametrize(
    ("digest_time", "day", "sent_at"),
    [
        (time(7, 0), date(2027, 3, 28), "2027-03-28T07:00:00+02:00"),  # clocks go forward
        (time(7, 0), date(2026, 10, 25), "2026-10-25T07:00:00+01:00"),  # clocks go back
        (time(2, 30), date(2027, 3, 28), "2027-03-28T03:30:00+02:00"),  # 02:30 does not exist
        (time(2, 30), date(2026, 10, 25), "2026-10-25T02:30:00+02:00"),  # 02:30 happens twice
    ],
)
async def test_on_a_daylight_saving_night_the_digest_goes_out_once_at_its_local_time(
    rig: Rig, digest_time: time, day: date, sent_at: str
) -> None:
    ed = editorial(rig, city=CITY.model_copy(update={"digest_time": digest_time}))
    await start(rig, f"{day.replace(day=day.day - 1)} 12:00", ed)
    await rig.subscribe([5], daily=True)
    rig.clock.advance(minutes=1)
    await approved(ed, "Zeitumstellung")
    moments = []
    for _ in range(24 * 6):  # every ten minutes through the night and the morning
        rig.clock.advance(minutes=10)
        before = len(rig.delivered(5))
        await ed.scheduler.run_due(rig.clock())
        await settle(rig)
        if len(rig.delivered(5)) > before:
            moments.append(rig.clock().astimezone(BERLIN).isoformat())
    [digest] = await digests(rig)
    assert digest.id == f"digest-{day}"
    assert digest.scheduled_for == datetime.fromisoformat(sent_at)
    assert len(moments) == 1, moments
    assert (
        timedelta(0)
        <= datetime.fromisoformat(moments[0]) - datetime.fromisoformat(sent_at)
        < timedelta(minutes=10)
    )


async def test_a_resident_switching_mode_between_two_digests_loses_nothing_and_gets_nothing_twice(
    rig: Rig,
) -> None:
    ed = editorial(rig)
    await start(rig, "2026-11-23 08:00", ed)
    await rig.subscribe([5], daily=True)
    rig.clock.advance(minutes=1)
    await approved(ed, "A: vor dem ersten Überblick")
    await tick(rig, "2026-11-24 07:00", ed)
    assert "A:" in rig.delivered(5)[-1]

    rig.clock.current = at("2026-11-24 09:00")
    await approved(ed, "B: nach dem Überblick")
    record = await rig.record(5)
    catch_up = await ed.pending_digest(record)
    assert len(catch_up) == 1
    assert "B:" in catch_up[0]
    assert "A:" not in catch_up[0]
    await rig.residents.set_daily(record, False, rig.clock())  # now every item at once
    rig.clock.advance(minutes=5)
    await approved(ed, "C: sofort zugestellt")
    await settle(rig)
    assert "C: sofort zugestellt" in rig.delivered(5)[-1]

    record = await rig.record(5)
    await rig.residents.set_daily(record, True, at("2026-11-24 12:00"))  # back to the digest
    rig.clock.current = at("2026-11-24 13:00")
    await approved(ed, "D: wieder im Überblick")
    await tick(rig, "2026-11-25 07:00", ed)
    digest = rig.delivered(5)[-1]
    assert "D:" in digest
    assert "C:" not in digest, "what came before the switch back was delivered at once"
    assert "B:" not in digest, "and what came before that with the catch-up"
