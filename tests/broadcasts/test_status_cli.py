"""`stadtfunk status` shows an operator what the engine counted, from Redis, beside a running service."""

from __future__ import annotations

from pathlib import Path

from broadcasts.model import Broadcast, Priority, State
from tests.bot.cli.test_cli import stadtfunk
from tests.broadcasts.conftest import Rig


async def test_status_of_a_finished_and_an_unknown_broadcast(
    rig: Rig, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    await rig.subscribe(range(1, 6))
    rig.tg.block(3)
    broadcast = await rig.broadcast()
    await rig.send(broadcast.id)
    await rig.drain()
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    result = stadtfunk("status", broadcast.id, cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert f"broadcast {broadcast.id}: sent" in result.stdout
    assert (
        "telegram: 5/5 settled: 4 delivered, 0 failed, 1 blocked, 0 retired, 0 maybe sent twice"
        in result.stdout
    )
    assert "100 %" in result.stdout
    assert "so far" not in result.stdout, "nothing is under way any more"
    assert "left" not in result.stdout

    missing = stadtfunk("status", "999", cwd=tmp_path, **env)
    assert missing.returncode == 2
    assert "there is no broadcast 999" in missing.stderr
    idle = stadtfunk("status", cwd=tmp_path, **env)
    assert idle.stdout.strip() == "no broadcast is sending"


async def test_status_lists_what_is_sending_most_urgent_first_whatever_its_id(
    rig: Rig, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    await rig.subscribe(range(1, 4), daily=True)
    await rig.subscribe(range(4, 7))
    digest = Broadcast(
        id="digest-2026-11-24", topics=("verkehr",), text_de="Tagesüberblick", author="stadtfunk",
        created_at=rig.clock(), priority=Priority.DIGEST, state=State.APPROVED,
    )  # fmt: skip
    assert await rig.store.create_named(digest)
    await rig.send(digest.id)
    news = await rig.broadcast()
    await rig.send(news.id)
    await rig.engine.pause(digest.id)
    await rig.engine.pause(news.id)
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix}
    result = stadtfunk("status", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("broadcast ")]
    assert lines == [f"broadcast {news.id}: paused", "broadcast digest-2026-11-24: paused"]
