"""Staff /hilfe: the resident overview, then exactly the desk commands each person's roles allow."""

from __future__ import annotations

from tests.bot.conftest import Say

ADMIN, EDITOR, APPROVER, FIRE, OBSERVATORY = 100001, 100002, 100003, 100004, 100006
RESIDENT = 777

DRAFTING = ("/meldung ", "/planen ", "/einreichen ", "/aendern ", "/probe ", "/verwerfen ")
AMENDING = ("/korrektur ", "/widerruf ")
DECIDING = ("/freigeben ", "/ablehnen ", "/geprueft ")
STOPPING = ("/anhalten ", "/fortsetzen ", "/abbrechen ")
OVERVIEW = ("/offen ", "/status ", "/statistik ")


def commands(desk: str) -> set[str]:
    """The commands a desk help names, each as typed: the first word of its lines."""
    return {line.split(" ", 1)[0] + " " for line in desk.splitlines() if line.startswith("/")}


async def test_residents_get_no_desk_commands(say: Say) -> None:
    [overview] = await say(RESIDENT, "/hilfe")
    assert overview.startswith("So funktioniert der Stadtfunk:")
    assert "/meldung" not in overview


async def test_an_editor_for_every_topic_gets_drafting_stopping_and_the_overview(say: Say) -> None:
    overview, desk = await say(EDITOR, "/hilfe", replies=2)
    assert overview.startswith("So funktioniert der Stadtfunk:")
    assert desk.startswith("Ihre Befehle als Redaktion des Stadtfunks:")
    assert "Meldungen schreiben – alle Themen:" in desk
    assert "Laufende Meldungen – alle Themen:" in desk
    assert commands(desk) == {*DRAFTING, *AMENDING, *STOPPING, *OVERVIEW}
    assert "/meldung <thema> <text> – Meldung entwerfen" in desk
    assert "/korrektur <nr> <richtiger text> – gesendete Meldung korrigieren" in desk


async def test_an_approver_gets_the_decisions_but_no_drafting(say: Say) -> None:
    _, desk = await say(APPROVER, "/hilfe", replies=2)
    assert "Freigeben – alle Themen:" in desk
    assert commands(desk) == {*DECIDING, *STOPPING, *OVERVIEW}
    assert "/ablehnen <nr> <grund>" in desk


async def test_a_department_sees_its_roles_with_its_topics(say: Say) -> None:
    _, desk = await say(FIRE, "/hilfe", replies=2)
    assert "Meldungen schreiben – Feuerwehr & Krisen:" in desk
    assert "Eilmeldungen – Feuerwehr & Krisen:" in desk
    assert "Freigeben – Feuerwehr & Krisen:" in desk
    assert "Laufende Meldungen – Feuerwehr & Krisen:" in desk
    assert commands(desk) == {*DRAFTING, *AMENDING, "/eilmeldung ", *DECIDING, *STOPPING, *OVERVIEW}


async def test_an_editor_of_one_topic_gets_no_decisions_and_no_alerts(say: Say) -> None:
    _, desk = await say(OBSERVATORY, "/hilfe", replies=2)
    assert "Meldungen schreiben – Sternwarte:" in desk
    assert "Laufende Meldungen – Sternwarte:" in desk
    assert commands(desk) == {*DRAFTING, *AMENDING, *STOPPING, *OVERVIEW}
    assert "Freigeben" not in desk
    assert "Eilmeldung" not in desk


async def test_an_admin_gets_every_desk_command_for_every_topic(say: Say) -> None:
    _, desk = await say(ADMIN, "/hilfe", replies=2)
    assert "Leitung: alle Rollen für alle Themen." in desk
    assert "Eilmeldungen – alle Themen:" in desk
    assert commands(desk) == {*DRAFTING, *AMENDING, "/eilmeldung ", *DECIDING, *STOPPING, *OVERVIEW}


async def test_staff_writing_in_english_get_the_english_commands(say: Say) -> None:
    overview, desk = await say(OBSERVATORY, "/help", language_code="en", replies=2)
    assert not overview.startswith("So funktioniert")
    assert desk.startswith("Your commands as stadtfunk staff:")
    assert "Writing news – Observatory:" in desk
    assert commands(desk) == {
        *("/news ", "/schedule ", "/submit ", "/edit ", "/test ", "/discard ", "/correct ", "/retract "),
        *("/pause ", "/resume ", "/cancel "),
        *("/pending ", "/status ", "/stats "),
    }
