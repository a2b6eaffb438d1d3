"""The sandbox page for a first visitor: the tour, the cheat-sheet, multi-line drafts, a laptop screen,
German throughout, chats kept over a reload, and the × that asks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import sandbox_service
from tests.browser.test_sandbox_page import ALERT, WAIT_MS, open_staff, say
from tests.conftest import ManualClock

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
# What the page showed in English before: the engine's state and outcome names, kinds and roles.
ENGLISH = re.compile(
    r"\b(draft|pending_approval|approved|scheduled|held|queued|sending|paused|done|cancelled|rejected|expired"
    r"|sent|failed|blocked|retired|broadcasts|news|alert|digest|editor|approver|admin)\b"
)


async def open_page(browser: Browser, address: str) -> Page:
    page = await browser.new_page(viewport=LAPTOP)
    expect.set_options(timeout=WAIT_MS)
    await page.goto(address)
    await expect(page.locator("#city")).to_have_text("Beispielstadt")
    return page


async def test_a_first_visitor_gets_the_tour_and_the_cheat_sheet(
    browser: Browser,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.sandbox_address is not None
        page = await open_page(browser, service.sandbox_address)
        tour = page.get_by_test_id("tour")
        await expect(tour).to_be_visible()
        await expect(tour.locator("li")).to_have_count(3)
        await expect(tour).to_contain_text("Einwohner/in hinzufügen und zustimmen")
        await expect(tour).to_contain_text("Redaktion öffnen und Entwurf schreiben")
        await expect(tour).to_contain_text("Freigabe öffnen und freigeben")
        # The example staff of the city file by name: an editor and an approver.
        await expect(page.locator("#tour-editor")).to_have_text("Jonas Becker (Presseamt)")
        await expect(page.locator("#tour-draft")).to_have_text("/meldung verkehr Ihr Text")
        await expect(page.locator("#tour-approver")).to_have_text("Sabine Wagner (Presseamt)")

        await page.click("#tour-open-approver")
        await expect(page.locator('[data-chat="staff:presse-freigabe"]')).to_be_visible()
        sheet = page.get_by_test_id("cheatsheet")
        await expect(page.locator("#cheatsheet-title")).to_have_text("Befehle für Sabine Wagner (Presseamt)")
        await expect(sheet).to_contain_text("/freigeben")
        await expect(sheet).not_to_contain_text("/meldung")
        await page.select_option("#staff-select", "presse-redaktion")
        await expect(sheet).to_contain_text("/meldung")
        await expect(sheet).not_to_contain_text("/freigeben")

        await page.click("#tour-done")
        await expect(tour).to_be_hidden()
        await page.reload()
        await expect(page.locator("#city")).to_have_text("Beispielstadt")
        await expect(tour).to_be_hidden()  # once seen, it waits behind "Anleitung"
        await page.click("#show-tour")
        await expect(tour).to_be_visible()


async def test_a_multi_line_draft_with_en_gets_its_english_version_and_survives_a_reload(
    browser: Browser,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.sandbox_address is not None
        page = await open_page(browser, service.sandbox_address)
        await page.click("#add-resident")
        resident = page.locator('[data-chat="r1"]')
        await say(resident, "/start")
        await resident.get_by_role("button", name="Ich stimme zu").click()
        editor = await open_staff(page, "presse-redaktion")
        await say(
            editor, "/meldung verkehr Die B7 ist ab Montag gesperrt.\nEN: The B7 is closed from Monday."
        )
        await expect(editor).to_contain_text("Englische Fassung:")
        await expect(editor.locator(".msg.out").last).to_contain_text("The B7 is closed from Monday.")
        typed = editor.locator(".msg.in").last
        await expect(typed).to_have_text(
            "/meldung verkehr Die B7 ist ab Montag gesperrt.\nEN: The B7 is closed from Monday."
        )

        await page.reload()
        await expect(page.locator('[data-chat="r1"] .msg.in').first).to_have_text("/start")
        await expect(page.locator('[data-chat="r1"]')).to_contain_text("Datenschutz")
        await expect(page.locator('[data-chat="staff:presse-redaktion"]')).to_contain_text(
            "Englische Fassung:"
        )
        # A resident added after the reload is a new one, not r1 again.
        await page.click("#add-resident")
        await expect(page.locator('[data-chat="r2"]')).to_be_visible()


async def test_at_1366_by_768_nothing_scrolls_sideways_and_statistik_is_in_view(
    browser: Browser,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.sandbox_address is not None
        page = await open_page(browser, service.sandbox_address)
        for _ in range(3):
            await page.click("#add-resident")
        for staff_id in ("presse-redaktion", "presse-freigabe", "feuerwehr-lagedienst"):
            await open_staff(page, staff_id)
        await expect(page.locator(".pane")).to_have_count(6)
        sizes = await page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth, width: innerWidth,"
            " header: document.querySelector('header').getBoundingClientRect().height,"
            " line: document.querySelector('#add-resident').getBoundingClientRect().height})"
        )
        assert sizes["scroll"] <= sizes["width"], sizes
        assert sizes["header"] < 2 * sizes["line"] + 20, f"the header wrapped: {sizes}"
        tops = await page.locator("header > *").evaluate_all(
            "nodes => nodes.map(n => { const b = n.getBoundingClientRect(); return b.top + b.height / 2; })"
        )
        assert max(tops) - min(tops) <= 4, f"the header's parts sit on one line: {tops}"
        await expect(page.locator("#statistics-panel h2")).to_be_in_viewport(ratio=1)
        await expect(page.get_by_test_id("subscribers")).to_be_in_viewport()
        await expect(page.get_by_test_id("tour")).to_be_visible()


async def test_the_page_speaks_german_and_shows_the_chart(
    browser: Browser,
    artifacts: Path,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.sandbox_address is not None
        page = await open_page(browser, service.sandbox_address)
        await page.click("#add-resident")
        resident = page.locator('[data-chat="r1"]')
        await say(resident, "/start")
        await resident.get_by_role("button", name="Ich stimme zu").click()
        await resident.get_by_role("button", name=re.compile("Feuerwehr")).click()
        author = await open_staff(page, "feuerwehr-lagedienst")
        approver = await open_staff(page, "presse-freigabe")
        await say(author, f"/eilmeldung feuerwehr {ALERT}")
        await approver.get_by_role("button", name="Freigeben").click()
        await expect(resident.locator(".msg.alert")).to_contain_text(ALERT)
        progress = page.locator('[data-broadcast="1"] [data-testid="progress"]')
        await expect(progress).to_contain_text("gesendet · 100 %")
        await expect(page.locator('[data-broadcast="1"]')).to_contain_text("Eilmeldung · Feuerwehr & Krisen")
        await expect(page.get_by_test_id("today")).to_contain_text(
            "1 Sendung · 1 zugestellt · 0 fehlgeschlagen"
        )
        await expect(page.locator("#staff-select option").first).to_contain_text(" – ")
        chart = page.get_by_test_id("chart")
        await expect(chart).to_be_visible()
        assert await chart.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1000, 700]
        await page.screenshot(path=artifacts / "sandbox-laptop.png")

        text = await page.locator("body").inner_text()
        assert "Beispielstadt" in text
        assert not ENGLISH.findall(text), ENGLISH.findall(text)


async def test_the_close_button_asks_whether_to_block(
    browser: Browser,
    make_settings: Any,
    city_file: Path,
    clock: ManualClock,
    sleeps: Sleeps,
    redis: aioredis.Redis,
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, _):
        assert service.sandbox_address is not None
        assert service.sandbox is not None
        page = await open_page(browser, service.sandbox_address)
        for _ in range(2):
            await page.click("#add-resident")
        for chat in ("r1", "r2"):
            await say(page.locator(f'[data-chat="{chat}"]'), "/start")
            await expect(page.locator(f'[data-chat="{chat}"] .msg.out')).to_have_count(1)

        first = page.locator('[data-chat="r1"]')
        await first.get_by_role("button", name="Chat schließen").click()
        await expect(first.get_by_test_id("close-question")).to_contain_text("blockieren")
        await first.get_by_role("button", name="Abbrechen").click()
        await expect(first.get_by_test_id("close-question")).to_have_count(0)
        await first.get_by_role("button", name="Chat schließen").click()
        await first.get_by_role("button", name="Nur schließen").click()
        await expect(first).to_have_count(0)

        second = page.locator('[data-chat="r2"]')
        await second.get_by_role("button", name="Chat schließen").click()
        await second.get_by_role("button", name="Blockieren").click()
        await expect(second).to_have_count(0)
        await page.wait_for_function("() => true")
        # Only the blocked one is refused later; the one just closed comes back with a reload.
        await page.reload()
        await expect(page.locator('[data-chat="r1"]')).to_be_visible()
        await expect(page.locator('[data-chat="r2"]')).to_have_count(0)
        assert service.sandbox.outbox.closed == {"r2"}
