"""Erasure and the engine: a resident erased while a broadcast is paused leaves no queued delivery behind,
whether /loeschen or `stadtfunk erase-resident` erased them, and resuming sends them nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broadcasts.queue import CHAT_FIELD
from broadcasts.store import ChannelProgress
from city.values import Channel, Resident
from tests.bot.cli.test_cli import stadtfunk
from tests.broadcasts.conftest import Rig


async def queued_chats(rig: Rig, broadcast_id: str) -> list[str]:
    entries: Any = await rig.redis.xrange(rig.keys.broadcast_queue(broadcast_id, Channel.TELEGRAM))
    return sorted(str(fields[CHAT_FIELD]) for _, fields in entries)


async def paused_with_three_queued(rig: Rig) -> str:
    await rig.subscribe([1, 2, 3])
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.engine.pause(broadcast.id)
    assert await queued_chats(rig, broadcast.id) == ["1", "2", "3"]
    return broadcast.id


async def test_an_erased_resident_is_dropped_from_a_paused_broadcasts_queue(rig: Rig) -> None:
    broadcast_id = await paused_with_three_queued(rig)
    await rig.residents.erase(Resident(Channel.TELEGRAM, "2"), ["verkehr"])
    assert await queued_chats(rig, broadcast_id) == ["1", "3"]

    await rig.engine.resume(broadcast_id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == ["1", "3"]
    progress = await rig.engine.progress(broadcast_id)
    assert progress.channels[Channel.TELEGRAM] == ChannelProgress(total=3, sent=2)


async def test_erasure_by_letter_drops_queued_deliveries_too(
    rig: Rig, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    broadcast_id = await paused_with_three_queued(rig)
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    erased = stadtfunk("erase-resident", "--channel", "tg", "--id", "3", cwd=tmp_path, **env)
    assert erased.returncode == 0, erased.stderr
    assert await queued_chats(rig, broadcast_id) == ["1", "2"]

    await rig.engine.resume(broadcast_id)
    await rig.drain()
    assert sorted(c.chat_id or "" for c in rig.tg.sent(None, "sendMessage")) == ["1", "2"]


async def test_the_resident_leaves_every_audience_before_the_forgetters_run(rig: Rig) -> None:
    """Otherwise a planner running between the drop of the queued deliveries and the audiences would
    queue the resident again."""
    await rig.subscribe([7])
    await rig.subscribe([7], topic="kultur")
    audiences = [rig.keys.audience(topic, Channel.TELEGRAM) for topic in ("verkehr", "kultur")]
    assert [await rig.redis.sismember(key, "7") for key in audiences] == [1, 1]
    seen: list[list[int]] = []

    async def look(resident: Resident) -> None:
        seen.append([await rig.redis.sismember(key, resident.chat_id) for key in audiences])

    rig.residents.forgetters.insert(0, look)
    await rig.residents.erase(Resident(Channel.TELEGRAM, "7"), ["verkehr", "kultur"])
    assert seen == [[0, 0]]
