"""The report's section on Redis beyond one machine: a Cluster beside one server, and failovers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.processes import NotMeasured, Outcome
from benchmarks.scenarios import FAILOVER_MODES, FAILOVER_TIMEOUT_MS, Plan

GOAL_CLUSTER_VS_SINGLE = 0.8
FAILOVER_NAMES = {"sentinel": "Sentinel (a primary, a replica, 3 sentinels)", "cluster": "Cluster (3 + 3)"}


def render_redis_modes(plan: Plan, modes: Mapping[str, Outcome], failover: Mapping[str, Outcome]) -> str:
    size = plan.sizes[-1]
    single, cluster, two = (modes.get(name, NotMeasured("not run")) for name in
                            ("single", "cluster", "cluster_two_procs"))  # fmt: skip
    ratio = _ratio(_per_cpu(cluster), _per_cpu(single))
    lines = [
        "## Redis Cluster beside one server, and failovers",
        "",
        f"The zero-latency fan-out to {size:,} subscribers, sent by the engine against one Redis server and "
        "against a Redis Cluster of 3 primaries and 3 replicas, all of the same redis-server binary over TCP "
        "on loopback, started for this run (`tests/redis_topologies.py`). *Deliveries per CPU-second* counts "
        "the sender's own process, as above. Goal: the cluster at least "
        f"{GOAL_CLUSTER_VS_SINGLE}× the single server's deliveries per CPU-second.",
        "",
        "| Redis | processes | delivered | deliveries / CPU-s | wall rate / s | chats served twice |",
        "|---|---:|---:|---:|---:|---:|",
        _row("one server", 1, single),
        _row("cluster, 3 primaries", 1, cluster),
        _row("cluster, 3 primaries", 2, two),
        "",
        "| goal | result |",
        "|---|---|",
        f"| cluster ≥ {GOAL_CLUSTER_VS_SINGLE}× one server (deliveries per CPU-s) | {_verdict(ratio)} |",
        f"| two processes on the cluster: wall time against one | {_wall_ratio(two, cluster)} |",
        "",
        "**Failover.** The engine sends an alert at the Telegram limit (30/s) against the stand-in; once "
        "deliveries flow, the Redis primary that holds the broadcast's queue is killed with SIGKILL. "
        f"*Kill to next delivery* is the stand-in's clock from the kill to its first delivery after the "
        f"sends already on their way; *replica promoted* is when the topology named a new primary. Failure "
        f"timeout {FAILOVER_TIMEOUT_MS} ms (`down-after-milliseconds`, `cluster-node-timeout`): most of the "
        "time is that wait, which the operator chooses (docs/operations.md).",
        "",
        "| topology | kill to next delivery | replica promoted | delivered before the kill |",
        "|---|---:|---:|---:|",
    ]
    for mode in FAILOVER_MODES:
        outcome = failover.get(mode, NotMeasured("not run"))
        if isinstance(outcome, NotMeasured):
            lines.append(f"| {FAILOVER_NAMES[mode]} | not measured: {_cell(outcome.reason)} | | |")
            continue
        lines.append(
            f"| {FAILOVER_NAMES[mode]} | {_seconds(outcome.get('kill_to_delivery_s'))} | "
            f"{_seconds(outcome.get('kill_to_promoted_s'))} | {outcome.get('delivered_before_kill', '–')} |"
        )
    return "\n".join(lines)


def _row(redis: str, processes: int, outcome: Outcome) -> str:
    if isinstance(outcome, NotMeasured):
        return f"| {redis} | {processes} | not measured: {_cell(outcome.reason)} | | | |"
    found = outcome.get("standin")
    standin: dict[str, Any] = found if isinstance(found, dict) else {}
    wall, deliveries = outcome.get("wall_s"), outcome.get("deliveries")
    rate = deliveries / wall if wall and deliveries is not None else None
    return (
        f"| {redis} | {processes} | {_num(standin.get('ok', deliveries))} | {_num(_per_cpu(outcome))} | "
        f"{_num(rate)} | {_num(standin.get('chats_more_than_once'))} |"
    )


def _per_cpu(outcome: Outcome) -> float | None:
    if isinstance(outcome, NotMeasured):
        return None
    cpu, deliveries = outcome.get("cpu_s"), outcome.get("deliveries")
    return deliveries / cpu if cpu and deliveries is not None else None


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "not measured"
    return f"{'met' if ratio >= GOAL_CLUSTER_VS_SINGLE else 'not met'}: {ratio:.2f}×"


def _wall_ratio(two: Outcome, one: Outcome) -> str:
    if isinstance(two, NotMeasured) or isinstance(one, NotMeasured):
        return "not measured"
    ratio = _ratio(two.get("wall_s"), one.get("wall_s"))
    return "not measured" if ratio is None else f"{ratio:.2f}× (below 1: faster together)"


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "–"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–" if value is None else str(value)
    return f"{value:,.0f}"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")
