"""The warnings API's documents read into values, and a warning's text as residents read it."""

from __future__ import annotations

import json

import pytest

from broadcasts.feeds import TEXT_LIMIT
from broadcasts.warning_documents import Unreadable, parse_dashboard, parse_detail, warning_text
from city.warnings import Warnings
from tests.fakes.warnings_api import Issued, Language, dashboard_entry, detail


def dashboard(*warnings: Issued) -> bytes:
    return json.dumps([dashboard_entry(w) for w in warnings]).encode()


def test_a_dashboard_entry_in_the_documented_shape() -> None:
    [listed] = parse_dashboard(dashboard(Issued(id="dwd.2.49.0.1", provider="DWD", severity="Extreme")))
    assert (listed.id, listed.version, listed.provider, listed.severity) == (
        "dwd.2.49.0.1",
        1,
        "dwd",
        "Extreme",
    )
    assert listed.msg_type == "Alert"
    assert listed.expires is not None
    assert not listed.all_clear


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>Wartung</html>", b'{"id": 1}', b"\xff\xfe"],
    ids=["empty", "html", "not a list", "not utf-8"],
)
def test_what_is_no_dashboard_is_unreadable(body: bytes) -> None:
    with pytest.raises(Unreadable):
        parse_dashboard(body)


def test_entries_without_an_id_or_a_version_are_skipped_and_a_provider_is_known_by_its_prefix() -> None:
    entry = dashboard_entry(Issued(id="lhp.flood-1"))
    del entry["payload"]["data"]["provider"]
    body = json.dumps([{"payload": {"version": 1}}, {"id": "x", "payload": {"version": "2"}}, 7, entry])
    [listed] = parse_dashboard(body.encode())
    assert (listed.id, listed.provider) == ("lhp.flood-1", "lhp")


def test_an_all_clear_is_a_cancel_or_a_headline_beginning_entwarnung() -> None:
    cancel, said = parse_dashboard(dashboard(
        Issued(id="mow.a", msg_type="Cancel"),
        Issued(id="mow.b", msg_type="Update", infos=(Language(headline="  ENTWARNUNG für Beispielstadt"),)),
    ))  # fmt: skip
    assert cancel.all_clear
    assert said.all_clear


def test_twins_share_a_mark_by_headline_and_expiry_whoever_publishes_them() -> None:
    storm = (Language(headline="Amtliche  UNWETTERWARNUNG vor ORKANBÖEN"),)
    dwd, kat, later = parse_dashboard(dashboard(
        Issued(id="dwd.1", infos=storm), Issued(id="kat.1", provider="KATWARN", infos=storm),
        Issued(id="dwd.2", infos=storm, expires=None),
    ))  # fmt: skip
    assert dwd.twin_mark == kat.twin_mark
    assert later.twin_mark != dwd.twin_mark


def test_the_text_is_verbatim_with_source_and_link_and_a_long_one_is_cut_at_a_sentence() -> None:
    long = Language(description="<p>" + "Ein Satz über die Lage. " * 400 + "</p>", instruction="")
    issued = Issued(id="mow.a/b c", infos=(long,))
    [listed] = parse_dashboard(dashboard(issued))
    info = parse_detail(json.dumps(detail(issued)).encode()).info("de")
    text = warning_text(listed, info)
    assert len(text) <= TEXT_LIMIT
    assert text.endswith(
        "Ein Satz über die Lage.\n\nQuelle: Bundesamt für Bevölkerungsschutz (MoWaS) über warnung.bund.de\n"
        "https://warnung.bund.de/meldungen/mow.a%2Fb%20c"
    )


def test_a_detail_keeps_each_language_by_its_primary_tag() -> None:
    issued = Issued(infos=(Language(), Language(language="en-GB", headline="Leak")))
    parsed = parse_detail(json.dumps(detail(issued)).encode())
    english = parsed.info("en")
    assert english is not None
    assert english.headline == "Leak"
    assert parsed.info("fr") is None
    with pytest.raises(Unreadable):
        parse_detail(b'{"identifier": "x"}')


@pytest.mark.parametrize(
    ("severity", "relayed"),
    [("Minor", False), ("Moderate", True), ("Severe", True), ("Extreme", True), ("Unknown", False)],
)
def test_min_severity_moderate_relays_moderate_and_above(severity: str, relayed: bool) -> None:
    config = Warnings(ars="051240000000", topic="feuerwehr", min_severity="moderate")
    assert config.relays(severity) is relayed
