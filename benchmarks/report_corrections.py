"""The report's section on corrections: the time to reach every recipient again, and the bytes kept."""

from __future__ import annotations

from typing import Any

from benchmarks.processes import NotMeasured, Outcome

NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}
WHAT = {
    "telegram": "an edit and a note per recipient",
    "whatsapp": "one quoting follow-up per recipient",
}


def render_corrections(outcome: Outcome) -> str:
    head = (
        "## Corrections\n\n"
        "An alert goes to every recipient at the channel's limit, then its correction reaches exactly "
        "those recipients again (`python -m benchmarks.correction_run`). Time is virtual: the engine, "
        "its limiter and the stand-ins of tests/fakes (the Bot API's 30/s and 1/s per chat, the Cloud "
        "API's 80/s and pair rate, over sliding windows) share one clock that moves only when the senders "
        "wait, so the figures are the schedule the limits allow. Edits count against the same limits as "
        "sends. *Refused*: sends a stand-in refused for a limit, each retried after the wait the platform "
        "names. *Bytes per delivery*: Redis memory of one broadcast's kept message ids (chat id → the "
        "messenger's message id, `MEMORY USAGE`), per recipient.\n\n"
    )
    if isinstance(outcome, NotMeasured):
        return head + f"Not measured: {outcome.reason}"
    lines = [
        "| channel | recipients | limit / s | broadcast s | correction s | correction ÷ broadcast "
        "| correction is | refused |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for channel, name in NAMES.items():
        run: dict[str, Any] = outcome.get(channel) or {}
        lines.append(
            f"| {name} | {run.get('recipients', 0):,} | {run.get('limit_per_s', 0):g} "
            f"| {run.get('original_s', 0):.1f} | {run.get('correction_s', 0):.1f} "
            f"| {run.get('ratio', 0):.2f}× | {WHAT[channel]} | {run.get('refused', 0)} |"
        )
    sizes: dict[str, float] = outcome.get("bytes_per_delivery") or {}
    count = outcome.get("memory_deliveries", 0)
    lines += [
        "",
        f"Bytes per delivery at {count:,} recipients: Telegram {sizes.get('tg', 0):.0f}, "
        f"WhatsApp {sizes.get('wa', 0):.0f} (a wamid is ~60 characters); kept for `correction_days`.",
    ]
    return head + "\n".join(lines)
