"""`python -m benchmarks.failover_run --mode cluster|sentinel --api-url URL --token T [--timeout-ms 5000]`:
the time from killing the Redis primary to the next delivery, as one JSON line.

It starts a topology of its own (tests/redis_topologies.py: a 3-primary cluster, or a primary, a replica
and 3 sentinels) with the failure timeout given (`cluster-node-timeout`, or Sentinel's
`down-after-milliseconds`; docs/operations.md recommends 5000), and runs the engine as the service wires it
at the Telegram limit against the stand-in. Once deliveries flow, it SIGKILLs the primary that holds the
broadcast's queue and watches the stand-in's own clock (`time.monotonic()`, one clock for every process on
Linux) for the next delivery →
{"kill_to_delivery_s", "kill_to_promoted_s", "timeout_ms", "mode", "delivered_before_kill", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from benchmarks.engine_run import TELEGRAM_LIMIT, Target, running_engine, seed, start_broadcast
from broadcasts.model import Priority
from city.keys import Keys
from city.values import Channel
from tests.redis_topologies import ClusterTopology, SentinelTopology

SUBSCRIBERS = 3_000  # more than the run sends at 30/s
FLOWING = 60  # deliveries before the kill: two seconds at the limit
# Sends already granted and on their way when the primary dies still arrive; the next delivery is the
# first after these have settled.
SETTLE_S = 0.5
DEADLINE_S = 120.0
POLL_S = 0.02


async def stand_in_count(session: aiohttp.ClientSession, api_url: str) -> tuple[int, float | None]:
    async with session.get(f"{api_url}/_stats") as response:
        stats = await response.json()
    return int(stats.get("ok") or 0), stats.get("last_ts")


async def measure(mode: str, api_url: str, token: str, timeout_ms: int) -> dict[str, Any]:
    topology: ClusterTopology | SentinelTopology = await asyncio.to_thread(
        (ClusterTopology(timeout_ms) if mode == "cluster" else SentinelTopology(timeout_ms)).start
    )
    try:
        target = Target(topology.url, api_url, token)
        await seed(topology.url, SUBSCRIBERS)
        async with (
            aiohttp.ClientSession() as session,
            running_engine(target, TELEGRAM_LIMIT, "bench-1") as engine,
        ):
            broadcast_id = await start_broadcast(engine, "verkehr", "Hochwasser", Priority.ALERT)
            while (await stand_in_count(session, api_url))[0] < FLOWING:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(POLL_S)
            before, _ = await stand_in_count(session, api_url)
            queue = Keys("bench").broadcast_queue(broadcast_id, Channel.TELEGRAM)
            killed_at = time.monotonic()
            promoted = asyncio.create_task(asyncio.to_thread(fail_over, topology, queue))
            await asyncio.sleep(SETTLE_S)
            settled, _ = await stand_in_count(session, api_url)
            next_at: float | None = None
            while time.monotonic() - killed_at < DEADLINE_S:
                count, last = await stand_in_count(session, api_url)
                if count > settled and last is not None:
                    next_at = float(last)
                    break
                await asyncio.sleep(POLL_S)
            promoted_at = await promoted
            return {
                "mode": mode,
                "timeout_ms": timeout_ms,
                "kill_to_delivery_s": next_at - killed_at if next_at is not None else None,
                "kill_to_promoted_s": promoted_at - killed_at,
                "delivered_before_kill": before,
                "delivered_while_settling": settled - before,
            }
    finally:
        topology.stop()


def fail_over(topology: ClusterTopology | SentinelTopology, queue: str) -> float:
    """Kill the primary holding `queue`; the moment a replica has taken over (monotonic)."""
    if isinstance(topology, ClusterTopology):
        topology.wait_for_failover(queue, topology.kill_primary_for(queue))
    else:
        topology.wait_for_failover(topology.kill_primary())
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failover_run")
    parser.add_argument("--mode", choices=["cluster", "sentinel"], required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.mode, args.api_url, args.token, args.timeout_ms))))


if __name__ == "__main__":
    main()
