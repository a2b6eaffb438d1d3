"""`python -m benchmarks [--quick] [--out docs/benchmarks.md] [--peers-python .venv-peers/bin/python]`.

Starts the run's own Redis and the stand-ins, runs every scenario (`benchmarks.scenarios`) as child
processes and writes the report. A scenario that cannot be measured is reported as such; the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import scenarios
from benchmarks.processes import ROOT, NotMeasured, StandInProcess, bench_redis, run_json
from benchmarks.report import Machine, Results, render
from benchmarks.scenarios import Env, Plan
from benchmarks.standin import DEFAULT_TOKEN


async def run(plan: Plan, peers_python: Path | None, token: str) -> Results:
    """Every scenario in turn; `peers_python` None: the peers are not measured."""
    machine = await describe_machine(peers_python)
    async with bench_redis() as redis_url:
        env = Env(redis_url=redis_url, token=token, peers_python=peers_python)
        async with StandInProcess("none", token) as standin:
            zero = await scenarios.zero_latency(env, standin, plan)
            two_procs = await scenarios.two_processes(env, standin, plan)
            modes = await scenarios.redis_modes(env, standin, plan)
        async with StandInProcess("tg", token) as standin:
            limits = {"tg": await scenarios.at_limit(env, standin, "tg", plan.limit_seconds)}
            two_procs_limit = await scenarios.at_limit(env, standin, "tg", plan.limit_seconds, processes=2)
            alert = await scenarios.alert_latency(env, standin, plan)
            warning = await scenarios.warning_latency(env, standin, plan)
            crisis = await scenarios.crisis(env, standin, plan)
            crisis_killed = await scenarios.crisis(env, standin, plan, kill=True)
            failover = await scenarios.failover(env, standin)
        async with StandInProcess("wa", token) as standin:
            limits["wa"] = await scenarios.at_limit(env, standin, "wa", plan.limit_seconds)
        memory = await scenarios.redis_memory(env, plan)
        webhook = await scenarios.webhook(env, plan)
        corrections = await scenarios.corrections(env, plan)
    return Results(
        plan=plan,
        machine=machine,
        zero=zero,
        limits=limits,
        two_procs=two_procs,
        two_procs_limit=two_procs_limit,
        alert=alert,
        redis_memory=memory,
        webhook=webhook,
        redis_modes=modes,
        failover=failover,
        warning=warning,
        corrections=corrections,
        crisis=crisis,
        crisis_killed=crisis_killed,
    )


async def describe_machine(peers_python: Path | None) -> Machine:
    versions = {}
    if peers_python is not None:
        found = await run_json([str(peers_python), "-m", "benchmarks.peers", "versions"], timeout_s=60)
        if not isinstance(found, NotMeasured):
            versions = {str(name): str(version) for name, version in found.items()}
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        memory_gb=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=await _commit(),
        peer_versions=versions,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def _commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "an unknown commit"
    process = await asyncio.create_subprocess_exec(
        git, "describe", "--always", "--dirty", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    stdout, _ = await process.communicate()
    described = stdout.decode().strip()
    return f"commit {described}" if process.returncode == 0 and described else "an unknown commit"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and 10 s runs: checks the harness")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--peers-python", type=Path, default=ROOT / ".venv-peers" / "bin" / "python")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    options = parser.parse_args(argv)
    plan = scenarios.QUICK if options.quick else scenarios.FULL
    peers_python = options.peers_python if options.peers_python.exists() else None
    results = asyncio.run(run(plan, peers_python, options.token))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(render(results))
    print(f"bench: wrote {options.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
