"""The desk under concurrency: staff acting at the same moment leave one consistent state."""

from __future__ import annotations

import asyncio

from bot.assembly import build_editorial
from broadcasts.desk import Desk, DeskError
from broadcasts.model import Broadcast, State
from city.config import StaffMember
from tests.broadcasts.conftest import CITY, Rig


def desk_of(rig: Rig) -> Desk:
    return build_editorial(
        redis=rig.redis,
        keys=rig.keys,
        engine=rig.engine,
        city=lambda: CITY,
        residents=rig.residents,
        clock=rig.clock,
    ).desk


def staff(staff_id: str) -> StaffMember:
    member = CITY.staff_member(staff_id)
    assert member is not None
    return member


async def test_a_concurrent_approve_and_cancel_end_cancelled_and_send_nothing(rig: Rig) -> None:
    await rig.subscribe(range(1, 11))
    desk = desk_of(rig)
    for _ in range(20):  # different interleavings of the two
        draft = await desk.draft(staff("presse-redaktion"), topics=("verkehr",), text_de="Sperrung")
        await desk.submit(staff("presse-redaktion"), draft.id)
        results = await asyncio.gather(
            desk.approve(staff("presse-freigabe"), draft.id),
            desk.cancel(staff("presse-leitung"), draft.id),
            return_exceptions=True,
        )
        assert all(isinstance(r, DeskError | Broadcast) for r in results), results
        assert (await rig.store.state(draft.id)) is State.CANCELLED
    await rig.drain()
    assert rig.tg.sent(None, "sendMessage") == [], "a cancelled broadcast sends nothing"
    leftovers = [k async for k in rig.redis.scan_iter(match=f"{rig.keys.prefix}:*:q:*")]
    assert leftovers == [], "no delivery queue outlives its cancelled broadcast"


async def test_a_double_submit_is_refused_and_changes_nothing(rig: Rig) -> None:
    desk = desk_of(rig)
    draft = await desk.draft(staff("presse-redaktion"), topics=("verkehr",), text_de="Text")
    results = await asyncio.gather(
        desk.submit(staff("presse-redaktion"), draft.id),
        desk.submit(staff("presse-redaktion"), draft.id),
        return_exceptions=True,
    )
    assert sum(isinstance(r, DeskError) for r in results) == 1
    assert (await rig.store.state(draft.id)) is State.PENDING_APPROVAL
