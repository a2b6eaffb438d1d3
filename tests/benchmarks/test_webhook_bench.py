"""The webhook benchmark's harness: two real processes on loopback, every body acknowledged and counted."""

from __future__ import annotations

import redis.asyncio as aioredis

from benchmarks.report import _webhook
from benchmarks.scenarios import PEER_PREFIX, TELEGRAM_PREFIX
from benchmarks.webhook import measure


async def test_a_short_run_acknowledges_every_body_and_measures_the_server(
    redis_url: str, key_prefix: str, redis: aioredis.Redis
) -> None:
    result = await measure(redis_url, rate=100, seconds=0.5, stream=f"{key_prefix}:wa-inbox")
    assert result["sent"] == result["ok"] == result["acks"] == 50
    assert result["failed"] == 0
    assert result["p50_ms"] is not None
    assert result["p99_ms"] >= result["p50_ms"]
    assert result["acks_per_cpu_s"] > 0
    table = _webhook({"100": result})
    assert "| 100 | " in table
    assert "Webhooks (WhatsApp and Telegram)" in table


async def test_the_telegram_webhook_is_measured_the_same_way_beside_the_peer(
    redis_url: str, key_prefix: str, redis: aioredis.Redis
) -> None:
    ours = await measure(
        redis_url, rate=100, seconds=0.5, stream=f"{key_prefix}:wa-inbox", messenger="telegram"
    )
    assert ours["sent"] == ours["ok"] == ours["acks"] == 50
    assert ours["messenger"] == "telegram"
    # The peer answers every path alike, Telegram's too.
    peer = await measure(redis_url, rate=100, seconds=0.5, bare=True, messenger="telegram")
    assert peer["ok"] == 50
    table = _webhook({f"{TELEGRAM_PREFIX}100": ours, f"{PEER_PREFIX}100": peer})
    assert f"| {TELEGRAM_PREFIX}100 | " in table
    assert (
        f"- Telegram webhook at 100/s: p99 {ours['p99_ms']:,.1f} ms against {peer['p99_ms']:,.1f} ms" in table
    )


async def test_the_bare_aiohttp_peer_is_measured_the_same_way_and_set_beside_ours(
    redis_url: str, key_prefix: str, redis: aioredis.Redis
) -> None:
    ours = await measure(redis_url, rate=100, seconds=0.5, stream=f"{key_prefix}:wa-inbox")
    peer = await measure(redis_url, rate=100, seconds=0.5, bare=True)
    assert peer["sent"] == peer["ok"] == peer["acks"] == 50
    assert peer["acks_per_cpu_s"] > 0
    table = _webhook({"100": ours, f"{PEER_PREFIX}100": peer})
    ratio = ours["acks_per_cpu_s"] / peer["acks_per_cpu_s"]
    assert f"against {peer['acks_per_cpu_s']:,.0f} for a bare aiohttp handler" in table
    assert f"{ratio:.2f}×" in table
