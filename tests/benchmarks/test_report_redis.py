"""The benchmark report's section on Redis modes: the goal is judged from the runs' own figures."""

from __future__ import annotations

from benchmarks.processes import NotMeasured, Outcome
from benchmarks.report_redis import render_redis_modes
from benchmarks.scenarios import QUICK


def fan_out(deliveries: int, cpu_s: float, wall_s: float) -> Outcome:
    return {"deliveries": deliveries, "cpu_s": cpu_s, "wall_s": wall_s,
            "standin": {"ok": deliveries, "chats_more_than_once": 0}}  # fmt: skip


def test_the_cluster_is_judged_against_one_server_per_cpu_second() -> None:
    modes: dict[str, Outcome] = {
        "single": fan_out(10_000, 1.0, 2.0),
        "cluster": fan_out(10_000, 1.25, 2.5),  # 8,000 per CPU-s: 0.8× exactly
        "cluster_two_procs": fan_out(10_000, 1.5, 1.5),
    }
    failover: dict[str, Outcome] = {
        "sentinel": {"kill_to_delivery_s": 6.27, "kill_to_promoted_s": 6.3, "delivered_before_kill": 60},
        "cluster": NotMeasured("no redis-cli"),
    }
    text = render_redis_modes(QUICK, modes, failover)
    assert "| one server | 1 | 10,000 | 10,000 | 5,000 | 0 |" in text
    assert "| cluster, 3 primaries | 1 | 10,000 | 8,000 | 4,000 | 0 |" in text
    assert "| met: 0.80× |" in text
    assert "0.60× (below 1: faster together)" in text
    assert "| 6.27 s | 6.30 s | 60 |" in text
    assert "| Cluster (3 + 3) | not measured: no redis-cli |" in text


def test_a_slower_cluster_is_not_met_and_a_missing_run_says_so() -> None:
    modes: dict[str, Outcome] = {"single": fan_out(10_000, 1.0, 2.0), "cluster": fan_out(10_000, 1.5, 2.0)}
    text = render_redis_modes(QUICK, modes, {})
    assert "| not met: 0.67× |" in text
    assert "| cluster, 3 primaries | 2 | not measured: not run |" in text
