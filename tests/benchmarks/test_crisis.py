"""The crisis scenario's measures, from a stand-in's log and the load's own times, and its report section."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.crisis_run import (
    AUTHOR,
    FLOODER,
    STAFF,
    WRITERS_FROM,
    Load,
    Size,
    integrity,
    latencies,
    measure,
)
from benchmarks.processes import NotMeasured
from benchmarks.report_crisis import render_crisis

OUTCOME: dict[str, Any] = {
    "subscribers": 2000, "writers": 500, "flood_messages": 200, "alert_delivered": 2000,
    "staff_p99_s": 0.4, "staff_answers": 70, "progress_first_s": 1.1, "progress_longest_gap_s": 5.5,
    "progress_updates": 25, "reply_p50_s": 30.0, "reply_p99_s": 70.0, "replies": 1500,
    "replies_expected": 1500, "reply_share_during_alert": 0.1, "flooder_answers": 9, "flood_budget": 8,
    "alert_rate_talking": 0.89, "alert_rate_quiet": 0.978, "alert_and_progress_rate_quiet": 0.989,
    "alert_seconds": 70.0, "too_many": 0, "max_in_window": 30,
}  # fmt: skip


SIZE = Size(subscribers=60, writers=2, flood=20, quiet_s=2.0, spread_s=1.0)


def load_with(wrote: dict[int, list[float]]) -> Load:
    load = Load.__new__(Load)
    load.wrote = {str(chat): times for chat, times in wrote.items()}
    return load


def test_each_answer_belongs_to_the_message_before_it() -> None:
    load = load_with({5: [10.0, 11.0, 12.0]})
    # An answer from before the first message (to something earlier) is not counted.
    assert latencies(load, {"5": [9.0, 10.5, 11.25, 14.0]}, ["5"]) == [0.5, 0.25, 2.0]
    assert latencies(load, {}, ["5"]) == []


def test_measures_come_from_the_log() -> None:
    released, talk_from = 100.0, 102.0
    log: list[list[Any]] = [[100.0 + n / 30, str(n + 1), "s"] for n in range(60)]  # the alert at 30/s
    log += [[101.0, str(AUTHOR), "s"], [104.0, str(AUTHOR), "e"], [102.1, str(STAFF[0]), "s"]]
    log += [[102.5, str(WRITERS_FROM), "s"], [103.0, str(WRITERS_FROM + 1), "s"]]
    log += [[102.2 + n / 10, str(FLOODER), "s"] for n in range(9)]
    load = load_with({STAFF[0]: [102.0], WRITERS_FROM: [102.0], WRITERS_FROM + 1: [102.0], FLOODER: [102.0]})
    result = measure(log, load, released, talk_from, 102.0, SIZE)
    assert result["alert_delivered"] == 60
    assert result["staff_p99_s"] == pytest.approx(0.1)
    assert (result["progress_first_s"], result["progress_longest_gap_s"]) == (1.0, 3.0)
    assert result["reply_p50_s"] == pytest.approx(0.75)
    assert result["flooder_answers"] == 9
    assert result["alert_rate_quiet"] == pytest.approx(1.0)  # 30/s between a second in and the first word


def test_the_report_judges_each_goal() -> None:
    outcome = OUTCOME
    text = render_crisis(outcome, quick=False)
    assert "| staff answer latency, p99 | 0.40 s | met |" in text
    assert "| progress message: longest gap between updates | 5.50 s | not met |" in text
    assert "| alert deliveries per second while residents talk | 0.890 | met |" in text
    assert "| alert deliveries per second when nobody talks | 0.978 | not met |" in text
    assert "| the flooder's messages answered | 9 | met |" in text
    assert "| 429s at the stand-in | 0 | met |" in text
    assert "SIGKILL of the service mid-way | not measured |" in text
    assert "Not measured: no stand-in" in render_crisis(NotMeasured("no stand-in"), quick=True)


def test_integrity_counts_what_a_kill_cost() -> None:
    log: list[list[Any]] = [[1.0, "1", "s"], [1.1, "1", "s"], [1.2, str(WRITERS_FROM), "s"]]
    log += [[1.3, str(WRITERS_FROM + 1), "s"], [1.4, str(WRITERS_FROM + 1), "s"], [1.5, "2", "e"]]
    load = load_with({WRITERS_FROM: [0.5, 0.6], WRITERS_FROM + 1: [0.5]})
    size = Size(subscribers=3, writers=2, flood=0, quiet_s=0, spread_s=0)
    assert integrity(log, load, size) == {
        "inbound_lost": 1, "answered_twice": 1, "alert_lost": 2, "alert_twice": 1
    }  # fmt: skip


def test_the_killed_run_is_judged_by_what_it_lost() -> None:
    killed = {"inbound_lost": 0, "answered_twice": 0, "alert_lost": 0, "alert_twice": 1,
              "killed_after_s": 5.0, "too_many": 0, "staff_p99_s": 1.2}  # fmt: skip
    text = render_crisis(NotMeasured("skipped"), quick=True, killed=killed)
    assert text.endswith("Not measured: skipped")
    full = render_crisis(OUTCOME, quick=False, killed=killed)
    assert "mid-way | 0 lost, 0 answered twice, 0 deliveries lost | met |" in full
    assert "subscribers served twice: 1" in full
