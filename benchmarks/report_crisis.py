"""The report's section on the crisis scenario (benchmarks/crisis_run.py): talking during an alert."""

from __future__ import annotations

from typing import Any

from benchmarks.processes import NotMeasured, Outcome
from bot.settings import Settings

# The service's default RATE_LIMIT_MARGIN, which the scenario runs with.
MARGIN: float = Settings.model_fields["rate_limit_margin"].default
GOALS = {
    "staff": 2.0,  # s, p99
    "progress_first": 2.0,  # s after the release
    "progress_gap": 5.0,  # s between two updates
    "talking": 0.88,  # of the limit
    "quiet": 0.99,  # of the limit
}


def render_crisis(outcome: Outcome, quick: bool, killed: Outcome | None = None) -> str:
    head = (
        "## Crisis: an alert while residents and staff write\n\n"
        "The whole service, started as `stadtfunk run` in Telegram webhook mode, against the stand-in "
        "enforcing 30 deliveries in any sliding second and 1 per chat (`benchmarks/crisis_run.py`). An alert "
        "goes to every subscriber; for its first seconds nobody writes; then residents write `/hilfe` 3 "
        "times each (1.5 s apart, starting at random within the spread), one resident sends 200 messages "
        "at once, and two staff members send `/status` and `/offen` in turn every 2 s until shortly after "
        "the alert. Latencies run from posting the update to the webhook to the stand-in accepting the "
        "answer; one clock (`time.monotonic()`) for both."
    )
    if isinstance(outcome, NotMeasured):
        return f"{head}\n\nNot measured: {outcome.reason}"
    r: dict[str, Any] = dict(outcome)
    size = (
        f"{r['subscribers']:,} subscribers, {r['writers']} residents writing, a flooder of "
        f"{r['flood_messages']} messages"
        + (" (quick mode: smaller than the issue's 2,000 and 500)" if quick else "")
    )
    rows = [
        ("staff answer latency, p99", _s(r["staff_p99_s"]),
         _goal(r["staff_p99_s"], GOALS["staff"], below=True),
         f"≤ {GOALS['staff']:g} s; {r['staff_answers']} answers"),
        ("progress message: first appearance after release", _s(r["progress_first_s"]),
         _goal(r["progress_first_s"], GOALS["progress_first"], below=True),
         f"≤ {GOALS['progress_first']:g} s"),
        ("progress message: longest gap between updates", _s(r["progress_longest_gap_s"]),
         _goal(r["progress_longest_gap_s"], GOALS["progress_gap"], below=True),
         f"≤ {GOALS['progress_gap']:g} s; {r['progress_updates']} updates incl. the summary"),
        ("resident reply latency", f"p50 {_s(r['reply_p50_s'])}, p99 {_s(r['reply_p99_s'])}", "reported",
         f"{r['replies']} of {r['replies_expected']} answered; the reply lanes took "
         f"{_ratio(r['reply_share_during_alert'])} of the limit while the alert ran (reply_share 0.10)"),
        ("the flooder's messages answered", str(r["flooder_answers"]),
         "met" if r["flooder_answers"] <= r["flood_budget"] + 1 else "not met",
         f"≤ budget {r['flood_budget']} + one notice"),
        ("alert deliveries per second while residents talk", _ratio(r["alert_rate_talking"]),
         _goal(r["alert_rate_talking"], GOALS["talking"]), f"≥ {GOALS['talking']} of the limit"),
        ("alert deliveries per second when nobody talks", _ratio(r["alert_rate_quiet"]),
         _goal(r["alert_rate_quiet"], GOALS["quiet"]),
         f"≥ {GOALS['quiet']} of the limit; with the author's progress updates (staff lane) "
         f"{_ratio(r.get('alert_and_progress_rate_quiet'))}, against a ceiling of {1 - MARGIN:g}: the "
         f"limiter paces everything at the limit less the {MARGIN:.0%} margin (`RATE_LIMIT_MARGIN`) that "
         "absorbs the jitter between the service's clock and the platform's"),
        ("429s at the stand-in", str(r["too_many"]), "met" if r["too_many"] == 0 else "not met",
         f"0; most in any 1 s: {r['max_in_window']}"),
        _killed_row(killed if killed is not None else NotMeasured("not run")),
    ]  # fmt: skip
    table = ["| measure | result | goal met | goal / notes |", "|---|---:|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    tail = (
        f"The alert reached {r['alert_delivered']:,} subscribers in {_s(r['alert_seconds'])}. Replies wait "
        "in the reply lane: while the alert sends they get their reserved share, and the whole limit once it "
        "is done, which is what their latency shows. The author's progress message takes the staff lane's "
        "slots, "
        "so while nobody talks the alert has the limit less those (about one update per 3 s). The "
        "stand-in counts an edit against the limit as a delivery: Telegram documents no limit of its own "
        "for edits, so the benchmark takes the stricter reading."
    )
    return f"{head}\n\n{size}.\n\n" + "\n".join(table) + f"\n\n{tail}"


def _killed_row(killed: Outcome) -> tuple[str, str, str, str]:
    what = "the whole scenario again with SIGKILL of the service mid-way"
    goal = "0 inbound lost, none answered twice, 0 deliveries lost"
    if isinstance(killed, NotMeasured):
        return what, "not measured", "not measured", f"{goal} ({killed.reason})"
    k: dict[str, Any] = dict(killed)
    counts = (k["inbound_lost"], k["answered_twice"], k["alert_lost"])
    result = (
        f"{k['inbound_lost']} lost, {k['answered_twice']} answered twice, {k['alert_lost']} deliveries lost"
    )
    notes = (
        f"{goal}; killed {k['killed_after_s']:g} s after people began writing; subscribers served twice: "
        f"{k['alert_twice']} (a send on its way when killed counts as maybe sent); 429s: {k['too_many']}; "
        f"staff p99 {_s(k['staff_p99_s'])}"
    )
    return what, result, "met" if counts == (0, 0, 0) else "not met", notes


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _goal(value: float | None, goal: float, *, below: bool = False) -> str:
    if value is None:
        return "not measured"
    return "met" if (value <= goal if below else value >= goal) else "not met"
