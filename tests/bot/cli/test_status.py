"""`stadtfunk status` names a broadcast's state with the word the chat uses, and time left only while
it goes out."""

from __future__ import annotations

from typing import Any

from bot.service import Service
from tests.bot.conftest import Say, approve, button_command, press
from tests.bot.test_staff_flow import APPROVER, EDITOR, RESIDENT, notified, subscribe, until_state
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram

# What an earlier version printed: the state's internal name, and a countdown for what has ended.
FORBIDDEN = ("done", "about 0 s left", "quiet)", "angehalten")


async def test_status_says_held_until_the_quiet_hours_end_and_sent_without_time_left(
    say: Say, cli: Any, tg: FakeTelegram, service: Service, clock: ManualClock
) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    clock.advance(hours=13)  # 23:00, in the quiet hours
    await say(EDITOR, "/meldung verkehr Nachtbaustelle A46")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)
    held = await cli("status", "1")
    assert held.returncode == 0, held.stderr
    assert held.stdout.splitlines() == ["broadcast 1: held (quiet hours until 24.11.2026 07:00)"]

    await press(tg, APPROVER, button_command(tg, APPROVER, "/freigeben 1 "))
    await until_state(service, "1", "done")
    done = await cli("status", "1")
    assert done.returncode == 0, done.stderr
    first, counts, share = done.stdout.splitlines()
    assert first == "broadcast 1: sent"
    assert (
        counts == "  telegram: 1/1 settled: 1 delivered, 0 failed, 0 blocked, 0 retired, 0 maybe sent twice"
    )
    assert share.startswith("  100 %, ")
    assert "left" not in done.stdout
    for word in FORBIDDEN:
        assert word not in held.stdout + done.stdout

    missing = await cli("status", "99")
    assert missing.returncode == 2
    assert "there is no broadcast 99" in missing.stderr
