"""The spam limit decided in the core: the broadcast pauses, and only the call that paused it gets the
notice for its author (the service delivers it; nothing calls back up)."""

from __future__ import annotations

from broadcasts.model import Broadcast, State
from broadcasts.notice import Notice
from broadcasts.spam_limit import PAUSED_NOTICE
from tests.broadcasts.conftest import CITY, Rig


async def test_spam_limited_pauses_and_returns_the_authors_notice_once(rig: Rig) -> None:
    await rig.subscribe([1, 2])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)

    notice = await rig.engine.spam_limited(broadcast.id)
    author = CITY.staff_member("presse-redaktion")
    assert author is not None
    assert isinstance(notice, Notice)
    assert (notice.to, notice.key, notice.broadcast.id) == (author, PAUSED_NOTICE, broadcast.id)
    assert notice.broadcast.state is State.PAUSED
    assert (await rig.engine.progress(broadcast.id)).state is State.PAUSED

    assert await rig.engine.spam_limited(broadcast.id) is None, "paused already: told once"
    assert rig.engine.notices.empty(), "the caller decides where a returned notice goes"


async def test_spam_limited_tells_nobody_about_an_ended_unknown_or_orphaned_broadcast(rig: Rig) -> None:
    await rig.subscribe([1])
    ended = await rig.broadcast()
    await rig.send(ended.id)
    await rig.drain()
    assert await rig.engine.spam_limited(ended.id) is None
    assert (await rig.engine.progress(ended.id)).state is State.DONE
    assert await rig.engine.spam_limited("404") is None

    draft = Broadcast(id="", topics=("verkehr",), text_de="B7", author="gone", created_at=rig.clock())
    orphaned = await rig.store.create(draft)
    await rig.store.approve(orphaned.id, orphaned.version, "presse-freigabe")
    await rig.send(orphaned.id)
    assert await rig.engine.spam_limited(orphaned.id) is None
    assert (await rig.engine.progress(orphaned.id)).state is State.PAUSED
