"""A real browser on the sandbox page: Debian's chromium driven by Playwright's async API.

Never `playwright install`: that downloads a browser; `.ci/run` installs Debian's chromium instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

# The sandbox service needs the same writable city file and virtual sleeps as the bot tests.
from tests.bot.conftest import city_file, sleeps

__all__ = ["artifacts", "browser", "city_file", "sleeps"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
SKIP_REASON = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    for item in items:
        if "tests/browser" in str(item.path):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CHROMIUM.exists():
        terminalreporter.write_sep("!", f"BROWSER TESTS SKIPPED: {SKIP_REASON}", red=True, bold=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Running as root (CI containers) needs chromium's own sandbox off; the page is ours, on loopback.
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
