"""The markdown report of a benchmark run (`docs/benchmarks.md`): a pure function of the results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.processes import JSON, NotMeasured, Outcome
from benchmarks.report_corrections import render_corrections
from benchmarks.report_crisis import render_crisis
from benchmarks.report_redis import render_redis_modes
from benchmarks.report_warnings import warning_latency
from benchmarks.scenarios import PEER_PREFIX, PEERS, TELEGRAM_PREFIX, Plan
from benchmarks.standin import RULES
from broadcasts.sender import CONCURRENCY

GOAL_PER_CPU_S = 8_000
GOAL_VS_AIOHTTP = 0.75
GOAL_RSS_MB = 200
FLAT_RSS = 0.10  # "flat" from the smallest to the largest run: at most 10 % more peak RSS
GOAL_LIMIT_RATIO = 0.99
GOAL_TWO_PROCS = 1.2
LIMITS = {"tg": "Telegram", "wa": "WhatsApp"}
SENDER_NAMES = {
    "engine": "stadtfunk engine",
    "ptb": "python-telegram-bot `send_message` loop",
    "aiogram": "aiogram `send_message` loop",
    "aiohttp": "raw aiohttp POSTs",
}


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    cpu_model: str
    memory_gb: float
    python: str
    platform: str
    date: str
    commit: str
    peer_versions: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Results:
    plan: Plan
    machine: Machine
    zero: Mapping[int, Mapping[str, Outcome]]
    limits: Mapping[str, Outcome]  # channel -> the single-process run at its limit
    two_procs: Outcome
    two_procs_limit: Outcome
    alert: Outcome
    redis_memory: Outcome
    webhook: Mapping[str, Outcome] = field(default_factory=dict)  # offered rate -> the run
    redis_modes: Mapping[str, Outcome] = field(default_factory=dict)  # single, cluster, cluster_two_procs
    failover: Mapping[str, Outcome] = field(default_factory=dict)  # sentinel, cluster
    warning: Outcome = field(default_factory=lambda: NotMeasured("not run"))
    corrections: Outcome = field(default_factory=lambda: NotMeasured("not run"))
    crisis: Outcome = field(default_factory=lambda: NotMeasured("not run"))
    crisis_killed: Outcome = field(default_factory=lambda: NotMeasured("not run"))
    notes: list[str] = field(default_factory=list)


def render(results: Results) -> str:
    sections = [
        _header(results),
        _machine(results.machine),
        _standin(results),
        _zero(results),
        _limits(results),
        _two_procs(results),
        _alert(results.alert, results.plan),
        warning_latency(results.warning),
        _memory(results.redis_memory, results.plan),
        _webhook(results.webhook),
        render_redis_modes(results.plan, results.redis_modes, results.failover),
        render_corrections(results.corrections),
        render_crisis(results.crisis, results.plan.quick, results.crisis_killed),
    ]
    if results.notes:
        sections.append("## Notes\n\n" + "\n".join(f"- {note}" for note in results.notes))
    return "\n\n".join(sections) + "\n"


def _header(results: Results) -> str:
    plan = results.plan
    text = (
        "# Benchmarks\n\n"
        f"Written by `make bench` (`python -m benchmarks`) on {results.machine.date}. "
        "Every figure comes from this one run; rerun it to refresh them."
    )
    if plan.quick:
        text += (
            f"\n\n**Quick mode** (`--quick`): {_sizes(plan.sizes)} subscribers instead of 10,000 and "
            f"100,000, runs at the limit of {plan.limit_seconds:g} s instead of 60 s, Redis memory at "
            f"{plan.memory_subscribers:,} subscribers instead of 1,000,000. These figures check the harness; "
            "they are not the benchmark."
        )
    return text


def _machine(machine: Machine) -> str:
    versions = (
        ", ".join(f"{name} {version}" for name, version in machine.peer_versions.items()) or "not found"
    )
    return (
        "## Machine\n\n"
        f"- {machine.cpus} CPUs ({machine.cpu_model}), {machine.memory_gb:.0f} GB memory, "
        f"{machine.platform}\n"
        f"- Python {machine.python}; stadtfunk at {machine.commit}\n"
        f"- peers (`.venv-peers`): {versions}\n"
        "- the sender, the stand-in and Redis share these CPUs: each is a process of its own"
    )


def _standin(results: Results) -> str:
    tg, wa = RULES["tg"], RULES["wa"]
    granted = sorted({str(_json(o.get("standin")).get("priority")) for o in results.limits.values()
                      if not isinstance(o, NotMeasured)} - {"None"})  # fmt: skip
    return (
        "## The stand-in\n\n"
        "`benchmarks/standin.py` answers the Bot API (`/bot{token}/sendMessage`, JSON, form or multipart "
        "bodies) and the WhatsApp Cloud API (`/{version}/{phone_number_id}/messages`) on 127.0.0.1, in a "
        "process of its own, with no added latency. It records nothing per call but counters: deliveries per "
        "chat (a chat counted twice got a message twice), deliveries per second, refusals. Its timestamps "
        "are its own `time.monotonic()`.\n\n"
        "Its rules, over **sliding windows**: a window (now − length, now] counts the deliveries accepted in "
        "it, and a delivery at t frees its place at exactly t + length. There is no separate burst "
        "allowance: **the burst is the whole per-window count** (30 Telegram sends at one instant pass, the "
        "31st is refused). A refused send takes no place in any window and is counted as a 429.\n\n"
        f"- **Telegram** (`--rate tg`): {tg.describe()}. Refused: HTTP 429, "
        '`{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", '
        '"parameters": {"retry_after": 1}}`.\n'
        f"- **WhatsApp** (`--rate wa`): {wa.describe()}. Refused: HTTP 400 with Cloud API error 130429 "
        "(throughput) or 131056 (pair rate).\n"
        "- **Zero latency** (`--rate none`): no limit.\n\n"
        "While it enforces a rule, the stand-in asks to be scheduled first (`SCHED_FIFO`, else a lower "
        "niceness): the platform does not share this machine's CPUs, and a stand-in waiting for a CPU the "
        "service holds would stamp the requests that arrived meanwhile in a bunch, counting its own delay "
        "against the sender. It also freezes its start-up objects out of the garbage collector's full "
        "passes. Scheduling it got in this run: " + (", ".join(granted) or "not recorded") + "."
    )


def _zero(results: Results) -> str:
    plan = results.plan
    lines = [
        "## Zero latency, no limits",
        "",
        "One message to each of N distinct subscribers, against one unlimited stand-in. The engine reads "
        "its audience from Redis and keeps its bookkeeping there (Redis runs in a process of its own). The "
        f"engine ({CONCURRENCY} sends in flight, its default) and the peers send the same text "
        "(`benchmarks/message.py`, "
        f"about 300 characters); the peers with {plan.concurrency} sends in flight, from a venv of their "
        f"own (python-telegram-bot with an HTTPX pool of {max(64, plan.concurrency)} connections, and with "
        "`sniffio` installed: without it httpcore retries a failing import on every request). "
        "*Deliveries per CPU-second* counts only the sender's own process (user + system CPU during the send "
        "phase, from `getrusage`); *wall rate* is deliveries per second of the send phase; *peak RSS* is the "
        "sender process's high-water mark (`VmHWM`; not `ru_maxrss`, which Linux carries over exec from the "
        "forked parent). *Delivered* is the stand-in's count. *Stand-in busy* is the stand-in's CPU time "
        "over the sender's wall time: near 100 % the stand-in, not the sender, set the wall rate.",
        "",
        "| subscribers | sender | delivered | deliveries / CPU-s | wall rate / s | peak RSS MB | "
        "engine ÷ sender (per CPU-s) | stand-in busy |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, row in results.zero.items():
        engine = _per_cpu(row.get("engine"))
        for name in ("engine", *PEERS):
            outcome = row.get(name, NotMeasured("not run"))
            if isinstance(outcome, NotMeasured):
                lines.append(
                    f"| {size:,} | {SENDER_NAMES[name]} | not measured: {_cell(outcome.reason)} {_blank(5)}"
                )
                continue
            per_cpu = _per_cpu(outcome)
            ratio = "" if name == "engine" else _ratio(engine, per_cpu)
            lines.append(
                f"| {size:,} | {SENDER_NAMES[name]} | {_delivered(outcome)} | {_num(per_cpu, 0)} | "
                f"{_num(_wall_rate(outcome), 0)} | {_num(outcome.get('rss_mb'), 1)} | {ratio} | "
                f"{_busy(outcome)} |"
            )
    lines += ["", *_zero_goals(results)]
    return "\n".join(lines)


def _zero_goals(results: Results) -> list[str]:
    rows = ["| goal | result |", "|---|---|"]
    sizes = list(results.zero)
    for size in sizes:
        row = results.zero[size]
        engine = _per_cpu(row.get("engine"))
        floor = _per_cpu(row.get("aiohttp"))
        rows.append(
            f"| ≥ {GOAL_PER_CPU_S:,} deliveries per CPU-s at {size:,} | {_verdict(engine, GOAL_PER_CPU_S)} |"
        )
        vs = engine / floor if engine is not None and floor else None
        rows.append(
            f"| ≥ {GOAL_VS_AIOHTTP}× raw aiohttp at {size:,} | {_verdict(vs, GOAL_VS_AIOHTTP, 2, '×')} |"
        )
    rss = [_json(results.zero[size].get("engine")).get("rss_mb") for size in sizes]
    peak = max((value for value in rss if value is not None), default=None)
    rows.append(f"| peak RSS ≤ {GOAL_RSS_MB} MB | {_verdict(peak, GOAL_RSS_MB, 1, ' MB', below=True)} |")
    if len(rss) >= 2 and rss[0] is not None and rss[-1] is not None:
        growth = rss[-1] / rss[0] - 1
        flat = f"{'yes' if growth <= FLAT_RSS else 'no'}: {growth:+.0%}"
    else:
        flat = "not measured"
    rows.append(f"| RSS flat from {sizes[0]:,} to {sizes[-1]:,} (at most +{FLAT_RSS:.0%}) | {flat} |")
    return rows


def _limits(results: Results) -> str:
    plan = results.plan
    lines = [
        "## At the limit",
        "",
        f"The engine sends for at least {plan.limit_seconds:g} s against a stand-in that enforces the "
        "channel's rule. *Achieved rate* is the stand-in's count of deliveries per whole second from its "
        "first delivery on (the last, partial second left out); under a sliding window no whole second can "
        "hold more than the limit, so rate ÷ limit is at most 1. *Most in 1 s* is the fullest the global "
        "window ever was.",
        "",
        "| channel | limit / s | run s (stand-in) | delivered | achieved rate / s | rate ÷ limit | 429s | "
        "most in 1 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for channel, outcome in results.limits.items():
        lines.append(_limit_row(LIMITS.get(channel, channel), channel, outcome))
    lines += [
        "",
        f"Goal: rate ÷ limit ≥ {GOAL_LIMIT_RATIO} and no 429 at all: "
        + "; ".join(f"{LIMITS.get(ch, ch)} {_limit_verdict(ch, o)}" for ch, o in results.limits.items())
        + ".",
    ]
    return "\n".join(lines)


def _limit_row(label: str, channel: str, outcome: Outcome) -> str:
    if isinstance(outcome, NotMeasured):
        return (
            f"| {label} | {RULES[channel].global_limit} | not measured: {_cell(outcome.reason)} {_blank(5)}"
        )
    stand = _json(outcome.get("standin"))
    limit = RULES[channel].global_limit
    rate = stand.get("achieved_rate")
    ratio = rate / limit if rate is not None and limit else None
    span = _span(stand)
    return (
        f"| {label} | {limit} | {_num(span, 1)} | {_num(stand.get('ok'))} | {_num(rate, 2)} | "
        f"{_num(ratio, 3)} | {_num(stand.get('too_many'))} | {_num(stand.get('max_in_window'))} |"
    )


def _limit_verdict(channel: str, outcome: Outcome) -> str:
    if isinstance(outcome, NotMeasured):
        return "not measured"
    stand = _json(outcome.get("standin"))
    rate, limit = stand.get("achieved_rate"), RULES[channel].global_limit
    if rate is None or not limit:
        return "no"
    met = rate / limit >= GOAL_LIMIT_RATIO and stand.get("too_many") == 0
    return "met" if met else "not met"


def _two_procs(results: Results) -> str:
    size = results.plan.two_procs_subscribers
    single = _json(results.zero.get(size, {}).get("engine"))
    lines = [
        "## Two engine processes against one",
        "",
        f"Two engine processes share one broadcast to {size:,} subscribers (zero latency), then send "
        f"together at the Telegram limit for {results.plan.limit_seconds:g} s. Goals: CPU-seconds per "
        f"delivery at most {GOAL_TWO_PROCS}× the single process's, no chat served twice, the shared limit "
        "never exceeded.",
        "",
    ]
    outcome = results.two_procs
    if isinstance(outcome, NotMeasured):
        lines.append(f"- zero latency: not measured: {outcome.reason}")
    else:
        two_cost = _cost(outcome)
        one_cost = _cost(single)
        ratio = two_cost / one_cost if two_cost is not None and one_cost else None
        stand = _json(outcome.get("standin"))
        lines += [
            f"- CPU per delivery: two processes {_micro(two_cost)}, one process {_micro(one_cost)}: "
            f"{_verdict(ratio, GOAL_TWO_PROCS, 2, '×', below=True)}",
            f"- delivered {_num(stand.get('ok'))} to {_num(stand.get('chats'))} chats; chats served more "
            f"than once: {_num(stand.get('chats_more_than_once'))}"
            f"{'' if stand.get('chats_more_than_once') == 0 else ' (not met)'}",
            f"- wall {_num(outcome.get('wall_s'), 2)} s",
        ]
    limit = results.two_procs_limit
    if isinstance(limit, NotMeasured):
        lines.append(f"- at the limit: not measured: {limit.reason}")
    else:
        stand = _json(limit.get("standin"))
        held = stand.get("too_many") == 0 and (stand.get("max_in_window") or 0) <= (
            RULES["tg"].global_limit or 0
        )
        lines.append(
            f"- at the limit: {_num(stand.get('ok'))} delivered, achieved "
            f"{_num(stand.get('achieved_rate'), 2)}/s of {RULES['tg'].global_limit}/s, "
            f"429s {_num(stand.get('too_many'))}, most in 1 s {_num(stand.get('max_in_window'))}, "
            f"chats served more than once {_num(stand.get('chats_more_than_once'))}: shared limit "
            f"{'never exceeded' if held else 'exceeded'}"
        )
    return "\n".join(lines)


def _alert(outcome: Outcome, plan: Plan) -> str:
    head = (
        "## Alert latency during a bulk broadcast\n\n"
        f"The day's digest to {plan.alert_subscribers:,} subscribers (the lowest lane) is sending at the "
        "Telegram limit when an alert is submitted: the time from submission to the alert's first "
        "delivery.\n\n"
    )
    if isinstance(outcome, NotMeasured):
        return head + f"Not measured: {outcome.reason}"
    stand = _json(outcome.get("standin"))
    return head + _fields(outcome) + f"\n- 429s at the stand-in: {_num(stand.get('too_many'))}"


def _memory(outcome: Outcome, plan: Plan) -> str:
    head = f"## Redis memory per subscriber\n\nAt {plan.memory_subscribers:,} subscribers.\n\n"
    if isinstance(outcome, NotMeasured):
        return head + f"Not measured: {outcome.reason}"
    return head + _fields(outcome)


GOAL_WEBHOOK_PER_CPU_S = 3_000
GOAL_WEBHOOK_P99_MS = 50


def _webhook(runs: Mapping[str, Outcome]) -> str:
    lines = [
        "## Webhooks (WhatsApp and Telegram)",
        "",
        "Signed notifications in Meta's shape (one text message each, ~700 bytes) posted at a steady "
        "offered rate by a second process on loopback; the server checks the signature and the JSON, "
        "appends the body to the inbound Redis stream and answers 200, while the inbox's consumer group in "
        "the same process takes the entries off again (processing reduced to parsing). Acks per CPU-second "
        f"are the server process's own. Goal: ≥{GOAL_WEBHOOK_PER_CPU_S:,} acks per CPU-second and p99 "
        f'≤{GOAL_WEBHOOK_P99_MS} ms. The rows "{TELEGRAM_PREFIX}…" post Telegram updates (~350 bytes, '
        "with the secret token) to the Telegram webhook of the same server, which stores them in its own "
        "inbox the same way.",
        "",
        "| offered /s | acknowledged /s | failed | acks per CPU-s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, outcome in runs.items():
        if isinstance(outcome, NotMeasured):
            lines.append(f"| {rate} | not measured: {_cell(outcome.reason)} |" + _blank(4))
            continue
        cells = [outcome.get(name) for name in ("rate", "failed", "acks_per_cpu_s", "p50_ms", "p99_ms")]
        lines.append(f"| {rate} | " + " | ".join(_num(cell) for cell in cells) + " |")
    lines.extend(_webhook_ratios(runs))
    lines.extend(_webhook_latency(runs))
    return "\n".join(lines)


def _webhook_latency(runs: Mapping[str, Outcome]) -> list[str]:
    """Each webhook's p99 at the top rate beside the bare peer's at the same rate, against the goal."""
    found = []
    for key, peer in runs.items():
        rate = key.removeprefix(PEER_PREFIX)
        if not key.startswith(PEER_PREFIX) or not isinstance(peer, dict):
            continue
        for name, ours in (("WhatsApp", runs.get(rate)), ("Telegram", runs.get(f"{TELEGRAM_PREFIX}{rate}"))):
            mine, theirs = _json(ours).get("p99_ms"), peer.get("p99_ms")
            if isinstance(mine, int | float) and isinstance(theirs, int | float):
                verdict = "met" if mine <= GOAL_WEBHOOK_P99_MS else "missed"
                found.append(
                    f"- {name} webhook at {rate}/s: p99 {mine:,.1f} ms against {theirs:,.1f} ms for the bare "
                    f"aiohttp handler; goal ≤{GOAL_WEBHOOK_P99_MS} ms {verdict}."
                )
    return found


def _webhook_ratios(runs: Mapping[str, Outcome]) -> list[str]:
    """stadtfunk's acks per CPU-second beside the bare aiohttp peer's at the same offered rate."""
    found = []
    for key, peer in runs.items():
        ours = runs.get(key.removeprefix(PEER_PREFIX))
        if not key.startswith(PEER_PREFIX) or isinstance(peer, NotMeasured) or not isinstance(ours, dict):
            continue
        theirs, mine = peer.get("acks_per_cpu_s"), ours.get("acks_per_cpu_s")
        if isinstance(theirs, int | float) and isinstance(mine, int | float) and theirs > 0:
            found.append(
                f"- At {key.removeprefix(PEER_PREFIX)}/s offered: {mine:,.0f} acks per CPU-second against "
                f"{theirs:,.0f} for a bare aiohttp handler (no signature, JSON or Redis): "
                f"{mine / theirs:.2f}×."
            )
    return ["", *found] if found else []


def _fields(outcome: JSON) -> str:
    return "\n".join(
        f"- {key}: {_num(value)}"
        for key, value in outcome.items()
        if key != "standin" and not isinstance(value, dict | list)
    )


def _micro(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e6:,.1f} µs"


def _json(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _per_cpu(outcome: Outcome | None) -> float | None:
    data = _json(outcome)
    cpu, deliveries = data.get("cpu_s"), data.get("deliveries")
    return deliveries / cpu if cpu and deliveries is not None else None


def _cost(data: JSON) -> float | None:
    cpu, deliveries = data.get("cpu_s"), data.get("deliveries")
    return cpu / deliveries if cpu is not None and deliveries else None


def _wall_rate(data: JSON) -> float | None:
    wall, deliveries = data.get("wall_s"), data.get("deliveries")
    return deliveries / wall if wall and deliveries is not None else None


def _busy(data: JSON) -> str:
    cpu, wall = _json(data.get("standin")).get("cpu_s"), data.get("wall_s")
    return f"{cpu / wall:.0%}" if cpu is not None and wall else "–"


def _delivered(data: JSON) -> str:
    ok = _json(data.get("standin")).get("ok")
    reported = data.get("deliveries")
    if ok is None or ok == reported:
        return _num(ok if ok is not None else reported)
    return f"{_num(ok)} (sender said {_num(reported)})"


def _span(stand: JSON) -> float | None:
    first, last = stand.get("first_ts"), stand.get("last_ts")
    return last - first if first is not None and last is not None else None


def _ratio(engine: float | None, other: float | None) -> str:
    return f"{engine / other:.2f}×" if engine is not None and other else "–"


def _verdict(
    value: float | None, goal: float, digits: int = 0, unit: str = "", *, below: bool = False
) -> str:
    if value is None:
        return "not measured"
    met = value <= goal if below else value >= goal
    return f"{'met' if met else 'not met'}: {_num(value, digits)}{unit}"


def _num(value: Any, digits: int | None = None) -> str:
    """A number for people: thousands separated; `digits` None: whole numbers as such, fractions to four
    significant digits (one decimal from 100 on)."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if digits is None:
        if isinstance(value, int):
            digits = 0
        elif abs(value) >= 100:
            digits = 1
        else:
            return f"{value:.4g}"
    return f"{value:,.{digits}f}"


def _sizes(sizes: Iterable[int]) -> str:
    return " and ".join(f"{size:,}" for size in sizes)


def _blank(cells: int) -> str:
    return "|" + " |" * cells


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
