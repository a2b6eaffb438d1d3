"""`python -m benchmarks.warnings_run --redis-url U --api-url A --token T [--trials N]`: the time from an
official warning appearing at the warnings API stand-in to its first delivery at the Bot API stand-in.

The whole service runs (bot/service.py, real clock), with the city relaying Severe warnings of its
district to `feuerwehr` and polling every 30 s, the least the city file allows. Each trial issues a new
warning at a random moment of the poll cycle, so the worst case is near `poll_seconds` plus one beat of
the loop and the work of one poll. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.engine_run import PREFIX, first_delivery, seed
from bot.service import Service
from bot.settings import DEFAULT_CITY_FILE, Settings
from tests.fakes.warnings_api import ARS, FakeWarningsApi, Issued, Language

POLL_SECONDS = 30
# The stand-in keys each text by its first 40 characters: the alert header takes 38 of them
# ("⚠️ Eilmeldung Feuerwehr &amp; Krisen\n\n"), so each trial's headline begins with its own two digits.
HEADER = "Eilmeldung Feuerwehr &amp; Krisen\n\n"
SECTION = (
    f'\nwarnings:\n  ars: "{ARS}"\n  topic: feuerwehr\n  min_severity: Severe\n'
    f"  poll_seconds: {POLL_SECONDS}\n"
)


async def measure(redis_url: str, api_url: str, token: str, trials: int) -> dict[str, Any]:
    await seed(redis_url, 10, topic="feuerwehr", first_chat=20_000_000)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        city = Path(directory) / "stadt.yaml"
        city.write_text(DEFAULT_CITY_FILE.read_text(encoding="utf-8") + SECTION, encoding="utf-8")
        async with FakeWarningsApi() as api:
            settings = Settings(
                _env_file=None,
                telegram_bot_token=token, telegram_api_url=api_url, redis_url=redis_url,
                redis_key_prefix=PREFIX, data_dir=Path(directory) / "data", city_config=city,
                warnings_api_url=api.url, http_port=0, metrics_port=0,
            )  # fmt: skip
            service = Service(settings)
            await service.start()
            try:
                for trial in range(trials):
                    await asyncio.sleep(random.uniform(0, POLL_SECONDS))  # noqa: S311 (a phase, not a secret)
                    headline = f"{trial:02d} Probewarnung"
                    issued = time.monotonic()
                    api.issue(Issued(id=f"mow.bench-{trial}", infos=(Language(headline=headline),)))
                    deadline = issued + POLL_SECONDS * 2 + 10
                    first = await first_delivery(api_url, HEADER + headline[:2], deadline=deadline)
                    if first is None:
                        raise SystemExit(f"trial {trial}: no delivery within {deadline - issued:.0f} s")
                    latencies.append(first - issued)
            finally:
                await service.stop()
    return {
        "poll_seconds": POLL_SECONDS,
        "goal_s": POLL_SECONDS + 1,
        "trials": trials,
        "max_s": max(latencies),
        "mean_s": sum(latencies) / len(latencies),
        "latencies_s": [round(latency, 3) for latency in latencies],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warnings_run")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.redis_url, args.api_url, args.token, args.trials))))


if __name__ == "__main__":
    main()
