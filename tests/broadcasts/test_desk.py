"""The desk under concurrency: staff acting at the same moment leave one consistent state."""

from __future__ import annotations

import asyncio

from broadcasts.desk import Desk
from broadcasts.desk_values import DeskError
from broadcasts.model import Broadcast, State
from broadcasts.version import short
from tests.broadcasts.conftest import Rig, actor


def desk_of(rig: Rig) -> Desk:
    return rig.editorial().desk


async def test_a_concurrent_approve_and_cancel_end_cancelled_and_send_nothing(rig: Rig) -> None:
    await rig.subscribe(range(1, 11))
    desk = desk_of(rig)
    for _ in range(20):  # different interleavings of the two
        draft = await desk.draft(actor("presse-redaktion"), topics=("verkehr",), text_de="Sperrung")
        await desk.submit(actor("presse-redaktion"), draft.id)
        results = await asyncio.gather(
            desk.approve(actor("presse-freigabe"), draft.id, short(draft.version)),
            desk.cancel(actor("presse-leitung"), draft.id),
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
    draft = await desk.draft(actor("presse-redaktion"), topics=("verkehr",), text_de="Text")
    results = await asyncio.gather(
        desk.submit(actor("presse-redaktion"), draft.id),
        desk.submit(actor("presse-redaktion"), draft.id),
        return_exceptions=True,
    )
    assert sum(isinstance(r, DeskError) for r in results) == 1
    assert (await rig.store.state(draft.id)) is State.PENDING_APPROVAL
