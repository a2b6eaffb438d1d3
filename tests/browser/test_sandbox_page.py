"""The sandbox page in a real browser: a resident subscribes, staff send and approve an alert, it arrives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from playwright.async_api import Browser, Locator, Page, expect

from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import sandbox_service
from tests.conftest import ManualClock

ALERT = "Hochwasser an der Ruhr: Uferwege zwischen Wehr und Brücke gesperrt."
WAIT_MS = 15_000


async def open_staff(page: Page, staff_id: str) -> Locator:
    await page.select_option("#staff-select", staff_id)
    await page.click("#add-staff")
    return page.locator(f'[data-chat="staff:{staff_id}"]')


async def say(pane: Locator, text: str) -> None:
    """Type as a person does: Shift+Enter between lines, Enter sends."""
    box = pane.locator("textarea")
    for index, line in enumerate(text.split("\n")):
        if index:
            await box.press("Shift+Enter")
        await box.type(line)
    await box.press("Enter")


async def test_an_approved_alert_arrives_in_the_residents_pane(
    browser: Browser,
    artifacts: Path,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        page = await browser.new_page(viewport={"width": 1800, "height": 900})
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        expect.set_options(timeout=WAIT_MS)
        assert service.sandbox_address is not None
        await page.goto(service.sandbox_address)
        await expect(page.locator("#city")).to_have_text("Beispielstadt")

        await page.click("#add-resident")
        resident = page.locator('[data-chat="r1"]')
        await say(resident, "/start")
        await resident.get_by_role("button", name="Ich stimme zu").click()
        await resident.get_by_role("button", name=re.compile("Feuerwehr")).click()
        await expect(resident.get_by_role("button", name=re.compile("✅ Feuerwehr"))).to_be_visible()
        await expect(page.get_by_test_id("subscribers")).to_contain_text("Feuerwehr & Krisen")

        author = await open_staff(page, "feuerwehr-lagedienst")
        approver = await open_staff(page, "presse-freigabe")
        await say(author, f"/eilmeldung feuerwehr {ALERT}")
        await expect(author).to_contain_text("zur Freigabe eingereicht")
        await approver.get_by_role("button", name="Freigeben").click()

        await expect(resident.locator(".msg.alert")).to_contain_text(ALERT)
        await expect(resident.locator(".msg.alert")).to_contain_text("Eilmeldung")
        progress = page.locator('[data-broadcast="1"] [data-testid="progress"]')
        await expect(progress).to_contain_text("100 %")
        await expect(progress).to_contain_text("gesendet · 100 % · 1/1 zugestellt")
        await expect(author).to_contain_text("1 von 1 zugestellt")
        await expect(page.get_by_test_id("today")).to_contain_text("1 Sendung · 1 zugestellt")
        await page.screenshot(path=artifacts / "sandbox-alert.png", full_page=True)
        assert (artifacts / "sandbox-alert.png").stat().st_size > 10_000
        # The page's own policy let everything it does through (the progress bar's width included).
        assert not [line for line in console if "Content Security Policy" in line], console
        width = await page.locator('[data-broadcast="1"] .bar div').evaluate("bar => bar.style.width")
        assert width == "100%"


async def test_without_its_token_the_page_says_where_to_find_it(
    browser: Browser,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        page = await browser.new_page()
        expect.set_options(timeout=WAIT_MS)
        await page.goto(f"http://127.0.0.1:{service.port}/")
        await expect(page.locator("#locked")).to_be_visible()
        await expect(page.locator("#locked")).to_contain_text("?t=")
        await expect(page.locator("#city")).to_have_text("")
