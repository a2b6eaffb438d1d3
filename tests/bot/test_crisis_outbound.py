"""An alert at the platform's limit while people write: the running service against the Bot API stand-in
enforcing Telegram's sliding windows (30/s overall, 1/s per chat) on the same virtual clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from broadcasts.model import Broadcast, Priority
from city.values import Channel, Resident
from tests.conftest import TOKEN, ManualClock
from tests.fakes.telegram_api import Call, FakeTelegram, RateRule
from tests.virtual_time import VirtualTime

AUTHOR, ADMIN = 100004, 100001  # feuerwehr-lagedienst writes alerts; presse-leitung asks for /status
LIMIT = 30


@pytest.fixture
def vt(clock: ManualClock) -> VirtualTime:
    return VirtualTime(clock)


@pytest.fixture
async def limited() -> AsyncIterator[FakeTelegram]:
    """Set to the test's clock by the service fixture (the clock fixture is per test)."""
    async with FakeTelegram(token=TOKEN, rate_limit=RateRule()) as fake:
        yield fake


@pytest.fixture
async def service(
    limited: FakeTelegram, vt: VirtualTime, make_settings: Any, city_file: Path
) -> AsyncIterator[Service]:
    limited.clock = vt.now
    running = Service(
        make_settings(telegram_api_url=limited.url, city_config=city_file),
        clock=vt.clock,
        sleep=vt.sleep,
        beat=vt.sleep,
    )
    await running.start()
    yield running
    # Sleeps in the middle of a step end only as time moves on: keep it moving while the service stops.
    stopping = asyncio.create_task(running.stop())
    await vt.run_until(stopping.done, seconds=60, what="the service stopped")
    await stopping


async def subscribe(service: Service, chats: Iterable[int], topic: str = "feuerwehr") -> None:
    assert service.services is not None
    residents, now = service.services.residents, service.clock()
    for chat in chats:
        resident = Resident(Channel.TELEGRAM, str(chat))
        await residents.consent(resident, language="de", version=service.city.privacy.version, at=now)
        record = await residents.get(resident)
        assert record is not None
        await residents.subscribe(record, topic, now)


async def release_alert(service: Service, vt: VirtualTime, tg: FakeTelegram) -> str:
    """An alert by the fire brigade's duty officer, approved and released as the desk does; returns once
    its first delivery went out (planning and a sender's look for work take real, not virtual, time)."""
    now = vt.clock()
    assert service.engine is not None
    store = service.engine.store
    draft = Broadcast(id="", topics=("feuerwehr",), text_de="Großbrand im Hafen: Fenster schließen",
                      author="feuerwehr-lagedienst", created_at=now, priority=Priority.ALERT)  # fmt: skip
    created = await store.create(draft)
    await store.approve(created.id, created.version, "presse-freigabe")
    await service.engine.enqueue(created.id)
    before = len(tg.sent(None, "sendMessage"))
    await vt.settle_until(lambda: len(tg.sent(None, "sendMessage")) > before)
    return created.id


def progress_calls(tg: FakeTelegram) -> list[Call]:
    """The author's progress message: sent once, then edited; refused tries included."""
    return [
        c
        for c in tg.calls
        if c.chat_id == str(AUTHOR) and c.method in ("sendMessage", "editMessageText")
        and str(c.params.get("text", "")).startswith("#")
    ]  # fmt: skip


def summary_shown(tg: FakeTelegram, broadcast_id: str) -> bool:
    return any(str(m.get("text", "")).startswith(f"#{broadcast_id} gesendet") for m in tg.messages(AUTHOR))


def answered_in(tg: FakeTelegram, chat: int) -> bool:
    return bool(tg.sent(chat))


def most_in_window(times: list[float], width: float = 1.0) -> int:
    ordered, start, most = sorted(times), 0, 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= width:
            start += 1
        most = max(most, end - start + 1)
    return most


def deliveries(tg: FakeTelegram, chats: range) -> list[float]:
    return [c.at for c in tg.sent(None, "sendMessage") if c.chat_id and int(c.chat_id) in chats]


async def test_the_progress_message_is_edited_during_a_rate_limited_alert(
    service: Service, limited: FakeTelegram, vt: VirtualTime
) -> None:
    residents = range(5000, 5240)  # 8 s at the limit
    await subscribe(service, residents)
    released = vt.now()
    alert = await release_alert(service, vt, limited)
    await vt.run_until(lambda: summary_shown(limited, alert), seconds=40, what="the summary")
    sent = deliveries(limited, residents)
    assert len(sent) == 240
    calls = progress_calls(limited)
    assert calls[0].method == "sendMessage"
    assert calls[0].at - released <= 2.0, "the progress message appears within 2 s of the release"
    assert len([c for c in calls if c.method == "editMessageText" and c.at < max(sent)]) >= 2
    assert max(b.at - a.at for a, b in itertools.pairwise(calls)) <= 5.0
    assert limited.too_many == 0
    assert most_in_window([c.at for c in limited.sent(None, "sendMessage")]) <= LIMIT
    # The alert kept its pace: the progress message took its slots from the staff lane, not the alert's.
    assert len(sent) / (max(sent) - min(sent)) >= 0.95 * LIMIT


@pytest.mark.parametrize(
    ("status", "description", "retry_after", "next_within"),
    [(429, "Too Many Requests: retry after 2", 2, 2.0), (502, "Bad Gateway", None, 1.0)],
    ids=["429", "5xx"],
)
async def test_a_failed_progress_edit_delays_the_next_by_the_retry_after_only(
    service: Service,
    limited: FakeTelegram,
    vt: VirtualTime,
    status: int,
    description: str,
    retry_after: int | None,
    next_within: float,
) -> None:
    residents = range(5000, 5300)
    await subscribe(service, residents)
    alert = await release_alert(service, vt, limited)
    await vt.run_until(lambda: len(progress_calls(limited)) >= 1, seconds=5, what="the progress message")
    limited.fail("editMessageText", chat_id=AUTHOR, status=status, description=description,
                 retry_after=retry_after)  # fmt: skip
    await vt.run_until(lambda: summary_shown(limited, alert), seconds=40, what="the summary")
    edits = [c for c in progress_calls(limited) if c.method == "editMessageText"]
    failed = next(index for index, c in enumerate(edits) if c.status == status)
    retried = edits[failed + 1]
    assert retried.ok
    # On top of what the platform asked only the author's chat's own pace (1/s less the margin, counted
    # from the failed try) and one slot: the next try asked a horizon early, not behind the alert's sends.
    assert next_within <= retried.at - edits[failed].at <= next_within + 0.05
    assert max(deliveries(limited, residents)) > retried.at, "edited again while the alert was sending"
    assert limited.too_many == 0


async def alert_with_conversation(
    service: Service, tg: FakeTelegram, vt: VirtualTime
) -> tuple[range, list[float], list[tuple[float, float]], tuple[float, float]]:
    """An alert to 450 residents; 12 other residents write, one after the other (their answers wait in the
    reply lane), then a staff member asks for /status. Returns the alert's chats, its deliveries, each
    resident's (asked, answered) and the staff member's."""
    residents = range(5000, 5450)
    await subscribe(service, residents)
    await release_alert(service, vt, tg)
    await vt.run_until(lambda: len(deliveries(tg, residents)) >= 30, seconds=5, what="the alert under way")
    writers, asked = range(9001, 9013), {}
    for chat in writers:
        asked[chat] = vt.now()
        tg.push_message(chat, "/hilfe")
        await vt.run_until(partial(answered_in, tg, chat), seconds=60, what="a reply")
    answered = [(asked[chat], next(c.at for c in tg.sent(chat))) for chat in writers]
    staff_asked = vt.now()
    tg.push_message(ADMIN, "/status")
    await vt.run_until(lambda: bool(tg.sent(ADMIN)), seconds=10, what="the staff answer")
    staff = (staff_asked, tg.sent(ADMIN)[0].at)
    await vt.run_until(lambda: len(deliveries(tg, residents)) == 450, seconds=60, what="the alert sent")
    return residents, deliveries(tg, residents), answered, staff


async def test_replies_and_staff_are_not_starved_during_an_alert(
    service: Service, limited: FakeTelegram, vt: VirtualTime
) -> None:
    _, sent, answered, (staff_asked, staff_answered) = await alert_with_conversation(service, limited, vt)
    assert max(answer for _, answer in answered) < max(sent), "every resident answered while it was sending"
    assert max(answer - ask for ask, answer in answered) <= 2.0
    assert staff_answered - staff_asked <= 2.0
    assert limited.too_many == 0, "no 429 with conversation going on"
    assert most_in_window([c.at for c in limited.sent(None, "sendMessage")]) <= LIMIT
    talking = [t for t in sent if answered[0][0] <= t <= answered[-1][1]]
    assert len(talking) / (answered[-1][1] - answered[0][0]) >= 0.85 * LIMIT


async def test_broadcasts_get_the_whole_limit_back_when_nobody_talks(
    service: Service, limited: FakeTelegram, vt: VirtualTime
) -> None:
    _, sent, _, (_, staff_answered) = await alert_with_conversation(service, limited, vt)
    quiet_from = staff_answered + 1.0  # within a second of the last answer
    quiet = [t for t in sent if t >= quiet_from + 0.25]
    assert len(quiet) >= 60, "the alert was still sending"
    start, end = min(quiet), max(quiet)
    # Every slot is the alert's but the author's progress edits (the staff lane takes what it needs).
    edits = [c for c in progress_calls(limited) if start <= c.at <= end]
    assert (len(quiet) + len(edits) - 1) / (end - start) >= 0.99 * LIMIT * 0.995
    assert limited.too_many == 0
