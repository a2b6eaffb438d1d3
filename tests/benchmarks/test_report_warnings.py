"""The report's row on official warnings: the worst trial against poll_seconds + 1 s."""

from __future__ import annotations

from benchmarks.processes import NotMeasured
from benchmarks.report_warnings import warning_latency


def test_the_worst_trial_is_held_against_the_goal() -> None:
    run = {"poll_seconds": 30, "goal_s": 31, "trials": 2, "max_s": 29.79, "mean_s": 15.0,
           "latencies_s": [0.21, 29.79]}  # fmt: skip
    text = warning_latency(run)
    assert "- trials: 2, each: 0.21 s, 29.79 s" in text
    assert "worst 29.79 s = 0.96 of the goal (31 s): met" in text
    assert "missed" in warning_latency(run | {"max_s": 31.5})


def test_a_run_that_could_not_be_measured_says_why() -> None:
    assert warning_latency(NotMeasured("timed out after 560 s")).endswith(
        "Not measured: timed out after 560 s"
    )
