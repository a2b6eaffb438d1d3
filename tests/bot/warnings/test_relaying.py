"""Official warnings relayed through the real service, the warnings API stand-in and both messengers'
stand-ins: by severity, once, verbatim with the source line and the link, or held for an approver."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.service import Service
from broadcasts.audit import Action
from broadcasts.model import Priority, State
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import edit_city, press
from tests.bot.warnings.conftest import (
    ADMIN,
    APPROVER,
    FIRE,
    TG_RESIDENTS,
    WA_RESIDENTS,
    broadcasts,
    poll,
    section,
    tg_texts,
    wa_texts,
)
from tests.conftest import ManualClock
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.warnings_api import FakeWarningsApi, Issued, Language

EXPECTED = (
    "Gefahrstoffaustritt in Beispielstadt\n\n"
    "Im Industriegebiet Nord ist ein Gefahrstoff ausgetreten.\n\n"
    "Halten Sie Fenster und Türen geschlossen.\n\n"
    "Quelle: Bundesamt für Bevölkerungsschutz (MoWaS) über warnung.bund.de\n"
    "https://warnung.bund.de/meldungen/mow.DE-NW-WUP-W001-20261202-000"
)


@pytest.fixture
async def by_approval(warned: Service, city_file: Path) -> Service:
    """The service with `send: approval`: each version waits for an approver of the topic."""
    edit_city(city_file, "  send: auto\n", "  send: approval\n")
    assert await warned.reload_city()
    return warned


async def reached(tg: FakeTelegram, graph: FakeGraph, words: str) -> None:
    """Every subscriber on both messengers has a message with `words`."""
    await tg.wait_for(lambda t: all(any(words in x for x in tg_texts(t, c)) for c in TG_RESIDENTS))
    await graph.wait_for(lambda g: all(any(words in x for x in wa_texts(g, n)) for n in WA_RESIDENTS))


def counts(tg: FakeTelegram, graph: FakeGraph, words: str) -> list[int]:
    return [sum(words in t for t in tg_texts(tg, chat)) for chat in TG_RESIDENTS] + [
        sum(words in t for t in wa_texts(graph, number)) for number in WA_RESIDENTS
    ]


async def test_a_severe_warning_reaches_every_subscriber_once_on_both_messengers_in_quiet_hours(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    clock.advance(hours=13)  # 23:00 in Beispielstadt: quiet hours
    assert warned.services is not None
    assert warned.services.desk.quiet_until(clock()) is not None
    api.issue(Issued())
    await poll(warned, clock)
    await reached(tg, graph, "Gefahrstoffaustritt")
    [sent] = await broadcasts(warned)
    assert (sent.priority, sent.author, sent.topics) == (Priority.ALERT, "warnings:nina", ("feuerwehr",))
    assert sent.text_de == EXPECTED, "verbatim, with the source line and the link"
    assert EXPECTED.splitlines()[-1] in tg_texts(tg, TG_RESIDENTS[0])[-1]

    before = api.dashboard_requests()
    await poll(warned, clock)  # unchanged: a 304
    api.issue(Issued(id="mow.other", severity="Minor", infos=(Language(headline="Kleinigkeit"),)))
    await poll(warned, clock)  # changed, the severe one still listed
    assert api.dashboard_requests() == before + 2
    assert api.detail_requests(Issued().id) == 1
    assert counts(tg, graph, "Gefahrstoffaustritt") == [1, 1, 1]
    assert warned.services is not None
    entries = [e async for e in warned.services.audit.since(datetime(2026, 1, 1).astimezone())]
    assert [(e.who, e.action, e.via) for e in entries if e.broadcast_id == sent.id] == [
        ("warnings:nina", Action.DRAFT, "warnings"),
        ("warnings:nina", Action.SEND, "warnings"),
    ]


async def test_below_min_severity_nothing_is_sent_and_moderate_goes_as_news(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    api.issue(Issued(id="mow.minor", severity="Minor"))
    api.issue(Issued(id="dwd.moderate", severity="Moderate", provider="DWD",
                     infos=(Language(headline="Amtliche WARNUNG vor STURMBÖEN"),)))  # fmt: skip
    await poll(warned, clock)
    await reached(tg, graph, "STURMBÖEN")
    [news] = await broadcasts(warned)
    assert news.priority is Priority.NEWS
    assert news.text_de.splitlines()[-2] == "Quelle: Deutscher Wetterdienst", "DWD's own source line"
    assert counts(tg, graph, "Gefahrstoffaustritt") == [0, 0, 0], "Minor is below Moderate"


async def test_a_dwd_duplicate_and_a_republication_by_a_second_provider_are_sent_once(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    storm = Language(headline="Amtliche UNWETTERWARNUNG vor ORKANBÖEN")
    api.issue(Issued(id="dwd.2.49.0.0.276.0.DWD.PVW.1", provider="DWD", infos=(storm,)))
    api.issue(Issued(id="dwd.2.49.0.0.276.0.DWD.PVW.2", provider="DWD", infos=(storm,)))
    await poll(warned, clock)
    api.issue(Issued(id="kat.republished", provider="KATWARN", infos=(storm,)))
    await poll(warned, clock)
    await reached(tg, graph, "ORKANBÖEN")
    await poll(warned, clock)
    assert len(await broadcasts(warned)) == 1
    assert counts(tg, graph, "ORKANBÖEN") == [1, 1, 1]


async def test_a_detail_that_answers_404_falls_back_to_the_dashboard_text(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    api.issue(Issued(id="pol.unknown-detail", provider="POLICE", detail=False))
    await poll(warned, clock)
    await reached(tg, graph, "Gefahrstoffaustritt")
    [sent] = await broadcasts(warned)
    assert api.detail_requests("pol.unknown-detail") == 1
    assert sent.text_de == (
        "Gefahrstoffaustritt in Beispielstadt\n\nQuelle: Polizei über warnung.bund.de\n"
        "https://warnung.bund.de/meldungen/pol.unknown-detail"
    )


async def test_html_in_the_description_is_neutralised(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    hostile = Language(
        description='Fenster <b>zu</b>!<script>alert("x")</script><img src=x onerror=alert(1)>'
        '<a href="javascript:alert(1)">hier</a> &lt;i&gt;ok&lt;/i&gt;<br/>Zweite Zeile',
        instruction="<p>Radio <i>einschalten</i>.</p>",
    )
    api.issue(Issued(infos=(hostile,)))
    await poll(warned, clock)
    await reached(tg, graph, "Zweite Zeile")
    [sent] = await broadcasts(warned)
    assert "Fenster zu!hier <i>ok</i>\nZweite Zeile\n\nRadio einschalten." in sent.text_de
    assert "script" not in sent.text_de
    assert "onerror" not in sent.text_de
    assert "javascript" not in sent.text_de
    call = tg.sent(TG_RESIDENTS[0])[-1]
    assert "&lt;i&gt;ok&lt;/i&gt;" in str(call.params["text"]), "escaped for Telegram's HTML, never markup"


async def test_the_residents_language_where_the_warning_has_it(
    warned: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    english = Language(language="en-US", headline="Hazardous substance leak", description="A leak.",
                       instruction="Keep windows closed.")  # fmt: skip
    api.issue(Issued(infos=(Language(), english)))
    await poll(warned, clock)
    await reached(tg, graph, "Gefahrstoffaustritt")
    [sent] = await broadcasts(warned)
    assert sent.text_en is not None
    assert sent.text_en.startswith("Hazardous substance leak\n\nA leak.")
    assert "Source: Federal Office of Civil Protection (MoWaS) via warnung.bund.de" in sent.text_en


async def test_send_approval_waits_for_an_approver_and_the_alert_escalates(
    by_approval: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    warned = by_approval
    api.issue(Issued())
    await poll(warned, clock)
    [draft] = await broadcasts(warned)
    assert draft.state is State.PENDING_APPROVAL
    await tg.wait_for(lambda t: any(f"#{draft.id}" in x for x in tg_texts(t, FIRE)))
    assert counts(tg, graph, "Gefahrstoffaustritt") == [0, 0, 0], "nothing before an approver"

    clock.advance(minutes=11)
    await warned.upkeep_once()
    reminder = f"Erinnerung: Eilmeldung #{draft.id} von Amtliche Warnung (NINA) wartet seit 11 Minuten"
    await tg.wait_for(lambda t: any(reminder in x for x in tg_texts(t, ADMIN)))

    [request] = [m for m in tg.messages(APPROVER) if f"#{draft.id}" in str(m.get("text"))][:1]
    command = request["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert command.startswith(f"/freigeben {draft.id} ")
    await press(tg, APPROVER, command)
    await reached(tg, graph, "Gefahrstoffaustritt")
    assert warned.engine is not None
    approved = await warned.engine.store.get(draft.id)
    assert approved is not None
    assert approved.approved_by == "presse-freigabe"


def test_check_config_names_the_rules_of_the_section(city_file: Path, tmp_path: Path) -> None:
    env = {"CITY_CONFIG": str(city_file)}
    base = city_file.read_text(encoding="utf-8")
    for values, message in [
        ({"ars": '"051241234567"'}, "the last 7 digits must be 0000000"),
        ({"ars": '"05124"'}, "12-digit regional key"),
        ({"poll_seconds": "20"}, "must be 30 or more"),
        ({"topic": "feuerwerk"}, 'unknown topic "feuerwerk"'),
        ({"min_severity": "Hoch"}, "Minor"),
    ]:
        city_file.write_text(base + section(**values), encoding="utf-8")
        refused = stadtfunk("check-config", cwd=tmp_path, **env)
        assert refused.returncode == 2, refused.stdout
        assert message in refused.stderr
    city_file.write_text(base + section(poll_seconds="30"), encoding="utf-8")
    accepted = stadtfunk("check-config", cwd=tmp_path, **env)
    assert accepted.returncode == 0, accepted.stderr
    assert "official warnings for 051240000000" in accepted.stdout


async def test_under_approval_a_newer_version_replaces_the_request_nobody_approved(
    by_approval: Service, api: FakeWarningsApi, clock: ManualClock, tg: FakeTelegram, graph: FakeGraph
) -> None:
    warned = by_approval
    warning = api.issue(Issued())
    await poll(warned, clock)
    api.update(warning.id, infos=(Language(headline="Gefahrstoffaustritt: neue Lage"),))
    await poll(warned, clock)
    old, new = await broadcasts(warned)
    assert (old.state, new.state) == (State.CANCELLED, State.PENDING_APPROVAL)
    assert not new.follows, "the first version never went out: the newer one is the thread's first"
    await tg.wait_for(lambda t: any(f"#{new.id}" in x for x in tg_texts(t, APPROVER)))
    [request] = [m for m in tg.messages(APPROVER) if f"#{new.id}" in str(m.get("text"))]
    await press(tg, APPROVER, request["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    await reached(tg, graph, "neue Lage")
    assert counts(tg, graph, "in Beispielstadt") == [0, 0, 0], "the replaced version never went out"
