"""The report's section on official warnings: from a warning appearing at the source to its first delivery."""

from __future__ import annotations

from benchmarks.processes import NotMeasured, Outcome


def warning_latency(outcome: Outcome) -> str:
    head = (
        "## Official warning to first delivery\n\n"
        "The whole service polls the warnings API stand-in (`tests/fakes/warnings_api.py`) for its district "
        "every `poll_seconds` (30, the least the city file allows) and relays Severe warnings to "
        "`feuerwehr`; each trial issues a new warning at a random moment of the poll cycle. The time from "
        "the warning appearing at the stand-in to its first delivery at the Bot API stand-in. Goal: at "
        "most `poll_seconds` + 1 s.\n\n"
    )
    if isinstance(outcome, NotMeasured):
        return head + f"Not measured: {outcome.reason}"
    goal = float(outcome["goal_s"])
    worst = float(outcome["max_s"])
    return head + "\n".join(
        [
            f"- trials: {outcome['trials']}, each: {', '.join(f'{s:.2f} s' for s in outcome['latencies_s'])}",
            f"- mean {float(outcome['mean_s']):.2f} s, worst {worst:.2f} s = {worst / goal:.2f} of the goal "
            f"({goal:g} s): {'met' if worst <= goal else 'missed'}",
        ]
    )
