"""`stadtfunk status` shows an operator what the engine counted, from Redis, beside a running service."""

from __future__ import annotations

from pathlib import Path

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
    assert f"broadcast {broadcast.id}: done" in result.stdout
    assert "telegram: 5/5 done: 4 sent, 0 failed, 1 blocked, 0 retired, 0 maybe sent twice" in result.stdout
    assert "100 %" in result.stdout

    missing = stadtfunk("status", "999", cwd=tmp_path, **env)
    assert missing.returncode == 2
    assert "there is no broadcast 999" in missing.stderr
    idle = stadtfunk("status", cwd=tmp_path, **env)
    assert idle.stdout.strip() == "no broadcast is sending"
