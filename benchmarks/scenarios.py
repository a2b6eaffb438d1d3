"""What a benchmark run measures, one function per scenario.

The engine side is `python -m benchmarks.engine_run SCENARIO ...`, which prints one JSON line. Every
scenario gets `--redis-url URL` (the run's own Redis, flushed before each scenario); those that send also
get `--api-url URL --token T` (the stand-in; Telegram at `{URL}/bot{T}/…`, WhatsApp at
`{URL}/{version}/{phone_number_id}/messages` with `Authorization: Bearer {T}`):

- `zero --subscribers N`: one broadcast to N subscribers, no limits →
  {"deliveries", "cpu_s", "wall_s", "rss_mb"} of the engine's own process (cpu_s around the send phase);
- `limit --channel tg|wa --seconds S [--processes 2]`: send at the channel's limit for S seconds →
  {"deliveries", "seconds", "rate", "limit"};
- `two-procs --subscribers N`: one broadcast to N subscribers by 2 engine processes, no limits →
  {"deliveries", "cpu_s" (both processes together), "wall_s"};
- `alert-latency --subscribers N --channel tg`: an alert submitted while a digest to N subscribers is
  sending at the limit → {"latency_s", ...} (submission to the alert's first delivery);
- `redis-memory --subscribers N`: N subscribers stored → {"bytes_per_subscriber", ...}.

The Redis modes: `zero` and `two-procs` again, with `--redis-url` naming one server on TCP and a Redis
Cluster of 3 primaries and 3 replicas of the same binary (started here, tests/redis_topologies.py); and
`python -m benchmarks.failover_run --mode cluster|sentinel` → {"kill_to_delivery_s", ...}, the time from
SIGKILLing the primary to the next delivery.

The WhatsApp webhook is measured by `python -m benchmarks.webhook` (a server process and a load process on
loopback) → {"acks_per_cpu_s", "p50_ms", "p99_ms", "rate", ...} per offered rate.

The stand-in's own counters are attached to each result under "standin": they, not the sender's word,
show what was delivered, whether a chat got a message twice and whether a limit was hit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.processes import NotMeasured, Outcome, StandInProcess, flush_redis, run_json
from tests.redis_topologies import ClusterTopology, SingleServer, TopologyUnavailable

PEERS = ("ptb", "aiogram", "aiohttp")
WEBHOOK_RATES = (500, 1000, 2000, 3000)
WEBHOOK_RATES_QUICK = (500,)
PEER_PREFIX = "bare aiohttp at "
TELEGRAM_PREFIX = "Telegram at "
STANDIN_SUMMARY = (
    "ok",
    "too_many",
    "chats",
    "max_per_chat",
    "chats_more_than_once",
    "max_in_window",
    "cpu_s",
)
LIMIT_SUMMARY = (*STANDIN_SUMMARY, "per_second", "achieved_rate", "first_ts", "last_ts", "rule")
# What an operator would set (docs/operations.md): a primary silent this long is replaced.
FAILOVER_TIMEOUT_MS = 5000
FAILOVER_MODES = ("sentinel", "cluster")
CRISIS_KILL_AFTER_S = 5.0  # after people start writing: the inboxes and the alert are busy


@dataclass(frozen=True, slots=True)
class Plan:
    quick: bool
    sizes: tuple[int, ...]  # subscribers of the zero-latency runs
    limit_seconds: float
    alert_subscribers: int
    memory_subscribers: int
    concurrency: int = 64  # sends in flight for the peers

    @property
    def two_procs_subscribers(self) -> int:
        return self.sizes[-1]


FULL = Plan(quick=False, sizes=(10_000, 100_000), limit_seconds=60.0, alert_subscribers=10_000,
            memory_subscribers=1_000_000)  # fmt: skip
QUICK = Plan(quick=True, sizes=(2_000, 10_000), limit_seconds=10.0, alert_subscribers=2_000,
             memory_subscribers=100_000)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Env:
    redis_url: str
    token: str
    peers_python: Path | None  # None: there is no peers venv


async def engine(
    env: Env,
    scenario: str,
    args: Sequence[str],
    *,
    api_url: str | None,
    timeout_s: float,
    redis_url: str | None = None,
) -> Outcome:
    """`benchmarks.engine_run` against the run's Redis, or the one `redis_url` names."""
    redis_url = redis_url or env.redis_url
    await flush_redis(redis_url)
    command = [sys.executable, "-m", "benchmarks.engine_run", scenario, *args, "--redis-url", redis_url]
    if api_url is not None:
        command += ["--api-url", api_url, "--token", env.token]
    return await run_json(command, timeout_s)


async def peer(env: Env, standin: StandInProcess, name: str, chats: int, concurrency: int) -> Outcome:
    if env.peers_python is None:
        return NotMeasured("no peers venv (`make bench` builds .venv-peers)")
    command = [str(env.peers_python), "-m", "benchmarks.peers", name, "--url", standin.url]
    command += ["--token", env.token, "--chats", str(chats), "--concurrency", str(concurrency)]
    return await run_json(command, timeout_s=_send_timeout(chats))


async def with_standin(
    standin: StandInProcess, outcome: Outcome, keys: Sequence[str] = STANDIN_SUMMARY
) -> Outcome:
    if isinstance(outcome, NotMeasured):
        return outcome
    stats = await standin.stats()
    return outcome | {"standin": {key: stats.get(key) for key in keys}}


async def zero_latency(env: Env, standin: StandInProcess, plan: Plan) -> dict[int, dict[str, Outcome]]:
    """The engine and each peer, one broadcast per subscriber count, on one unlimited stand-in."""
    table: dict[int, dict[str, Outcome]] = {}
    for size in plan.sizes:
        row: dict[str, Outcome] = {}
        await standin.reset()
        _progress(f"zero latency, {size:,} subscribers: engine")
        outcome = await engine(env, "zero", ["--subscribers", str(size)], api_url=standin.url,
                               timeout_s=_send_timeout(size))  # fmt: skip
        row["engine"] = await with_standin(standin, outcome)
        for name in PEERS:
            await standin.reset()
            _progress(f"zero latency, {size:,} subscribers: {name}")
            row[name] = await with_standin(standin, await peer(env, standin, name, size, plan.concurrency))
        table[size] = row
    return table


async def two_processes(env: Env, standin: StandInProcess, plan: Plan) -> Outcome:
    """Two engine processes share one broadcast, no limits."""
    await standin.reset()
    size = plan.two_procs_subscribers
    _progress(f"two engine processes, {size:,} subscribers")
    outcome = await engine(env, "two-procs", ["--subscribers", str(size)], api_url=standin.url,
                           timeout_s=_send_timeout(size))  # fmt: skip
    return await with_standin(standin, outcome)


async def at_limit(
    env: Env, standin: StandInProcess, channel: str, seconds: float, processes: int = 1
) -> Outcome:
    """The engine sending at `channel`'s limit for `seconds`, against a stand-in enforcing it."""
    await standin.reset()
    _progress(f"at the limit, {channel}, {processes} process(es), {seconds:g} s")
    args = ["--channel", channel, "--seconds", f"{seconds:g}"]
    if processes != 1:
        args += ["--processes", str(processes)]
    outcome = await engine(env, "limit", args, api_url=standin.url, timeout_s=seconds * 2 + 120)
    return await with_standin(standin, outcome, LIMIT_SUMMARY)


async def alert_latency(env: Env, standin: StandInProcess, plan: Plan) -> Outcome:
    """An alert's first delivery while a digest is sending at the Telegram limit."""
    await standin.reset()
    _progress(f"alert latency during a digest to {plan.alert_subscribers:,}")
    args = ["--subscribers", str(plan.alert_subscribers), "--channel", "tg"]
    outcome = await engine(
        env, "alert-latency", args, api_url=standin.url, timeout_s=plan.limit_seconds * 3 + 300
    )
    return await with_standin(standin, outcome)


async def warning_latency(env: Env, standin: StandInProcess, plan: Plan) -> Outcome:
    """The whole service: a warning appearing at the warnings API stand-in until its first delivery."""
    await standin.reset()
    trials = 1 if plan.quick else 5
    _progress(f"official warning to first delivery, {trials} trials at poll_seconds 30")
    await flush_redis(env.redis_url)
    command = [sys.executable, "-m", "benchmarks.warnings_run", "--redis-url", env.redis_url,
               "--api-url", standin.url, "--token", env.token, "--trials", str(trials)]  # fmt: skip
    return await run_json(command, timeout_s=trials * 100 + 60)


async def crisis(env: Env, standin: StandInProcess, plan: Plan, *, kill: bool = False) -> Outcome:
    """The whole service during an alert while residents, a flooder and staff write (crisis_run.py); with
    `kill`, SIGKILLed a few seconds after they start and started again."""
    await flush_redis(env.redis_url)
    await standin.reset()
    _progress("crisis: an alert while residents, a flooder and staff write" + (", SIGKILL mid-way" * kill))
    command = [sys.executable, "-m", "benchmarks.crisis_run", "--redis-url", env.redis_url,
               "--api-url", standin.url, "--token", env.token]  # fmt: skip
    command += ["--quick"] if plan.quick else []
    command += ["--kill-after", str(CRISIS_KILL_AFTER_S)] if kill else []
    return await run_json(command, timeout_s=900)


async def webhook(env: Env, plan: Plan) -> dict[str, Outcome]:
    """Signed webhook bodies at steady offered rates; the consumer group runs in the server process."""
    seconds = plan.limit_seconds / 2
    results: dict[str, Outcome] = {}
    for rate in WEBHOOK_RATES_QUICK if plan.quick else WEBHOOK_RATES:
        await flush_redis(env.redis_url)
        _progress(f"webhook at {rate}/s for {seconds:.0f} s")
        command = [sys.executable, "-m", "benchmarks.webhook", "--redis-url", env.redis_url,
                   "--rate", str(rate), "--seconds", str(seconds)]  # fmt: skip
        results[str(rate)] = await run_json(command, timeout_s=seconds * 4 + 120)
    # The peer at the top rate: a bare aiohttp handler, the floor under any webhook on aiohttp.
    top = (WEBHOOK_RATES_QUICK if plan.quick else WEBHOOK_RATES)[-1]
    _progress(f"webhook peer (bare aiohttp) at {top}/s for {seconds:.0f} s")
    command = [sys.executable, "-m", "benchmarks.webhook", "--bare",
               "--rate", str(top), "--seconds", str(seconds)]  # fmt: skip
    results[f"{PEER_PREFIX}{top}"] = await run_json(command, timeout_s=seconds * 4 + 120)
    # Telegram's webhook the same way: the secret token instead of a signature, the same inbox path.
    await flush_redis(env.redis_url)
    _progress(f"telegram webhook at {top}/s for {seconds:.0f} s")
    command = [sys.executable, "-m", "benchmarks.webhook", "--redis-url", env.redis_url,
               "--messenger", "telegram", "--rate", str(top), "--seconds", str(seconds)]  # fmt: skip
    results[f"{TELEGRAM_PREFIX}{top}"] = await run_json(command, timeout_s=seconds * 4 + 120)
    return results


async def redis_modes(env: Env, standin: StandInProcess, plan: Plan) -> dict[str, Outcome]:
    """The largest zero-latency fan-out on one server and on a 3-primary cluster of the same Redis binary,
    both over TCP; then two engine processes on the cluster. Keys: single, cluster, cluster_two_procs."""
    size = plan.sizes[-1]
    try:
        single = await asyncio.to_thread(SingleServer().start)
    except TopologyUnavailable as exc:
        return {"single": NotMeasured(str(exc))}
    try:
        cluster = await asyncio.to_thread(ClusterTopology().start)
    except TopologyUnavailable as exc:
        single.stop()
        return {"cluster": NotMeasured(str(exc))}
    results: dict[str, Outcome] = {}
    try:
        for name, url, scenario in (
            ("single", single.url, "zero"),
            ("cluster", cluster.url, "zero"),
            ("cluster_two_procs", cluster.url, "two-procs"),
        ):
            await standin.reset()
            _progress(f"zero latency, {size:,} subscribers, {name.replace('_', ' ')}")
            outcome = await engine(env, scenario, ["--subscribers", str(size)], api_url=standin.url,
                                   timeout_s=_send_timeout(size), redis_url=url)  # fmt: skip
            results[name] = await with_standin(standin, outcome)
    finally:
        single.stop()
        cluster.stop()
    return results


async def failover(env: Env, standin: StandInProcess) -> dict[str, Outcome]:
    """From SIGKILLing the primary to the next delivery, sending at the Telegram limit, per mode."""
    results: dict[str, Outcome] = {}
    for mode in FAILOVER_MODES:
        await standin.reset()
        _progress(f"failover: {mode}, the primary killed mid-broadcast")
        command = [sys.executable, "-m", "benchmarks.failover_run", "--mode", mode, "--api-url", standin.url,
                   "--token", env.token, "--timeout-ms", str(FAILOVER_TIMEOUT_MS)]  # fmt: skip
        results[mode] = await run_json(command, timeout_s=300)
    return results


async def redis_memory(env: Env, plan: Plan) -> Outcome:
    _progress(f"Redis memory, {plan.memory_subscribers:,} subscribers")
    args = ["--subscribers", str(plan.memory_subscribers)]
    return await engine(env, "redis-memory", args, api_url=None, timeout_s=900)


async def corrections(env: Env, plan: Plan) -> Outcome:
    """An alert and its correction to the same recipients at each channel's limit, in virtual time; and
    the bytes each recipient's kept message id costs."""
    _progress(f"corrections, {plan.alert_subscribers:,} recipients")
    await flush_redis(env.redis_url)
    command = [sys.executable, "-m", "benchmarks.correction_run", "--redis-url", env.redis_url,
               "--recipients", str(plan.alert_subscribers),
               "--memory", str(plan.memory_subscribers // 10)]  # fmt: skip
    return await run_json(command, timeout_s=1800)


def _send_timeout(sends: int) -> float:
    # Generous: the slowest peer needs a few ms of CPU per send on a small machine.
    return 120 + sends * 0.02


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
