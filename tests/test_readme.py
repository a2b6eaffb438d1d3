"""The README is the public contract's reference: it keeps the two commands on its first screen, a quick
tour with the example city's staff, and names every variable, command, make target, city-file key and
path; engine internals live in docs/architecture.md, which it links."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pydantic import BaseModel

from bot.cli.main import build_parser
from bot.settings import Settings
from broadcasts.model import State
from city.config import City, FaqEntry, Privacy, QuietHours, Retention, StaffMember, Topic, load_city
from city.feeds import Feed
from city.flood import Flood
from city.warnings import Warnings
from handlers import words
from handlers.texts import Texts

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = "\n".join(README.splitlines()[:40])


def test_the_first_screen_keeps_the_two_commands_then_a_ten_line_tour() -> None:
    assert "make run" in FIRST_SCREEN
    assert "make test" in FIRST_SCREEN
    tour = re.findall(r"^(\d+)\. ", FIRST_SCREEN, re.MULTILINE)
    assert tour == [str(n) for n in range(1, 11)]
    city = load_city(ROOT / "bot" / "cities" / "beispielstadt.yaml")
    named = [member.name for member in city.staff if member.name in FIRST_SCREEN]
    assert len(named) >= 4, named
    for member in ("presse-redaktion", "presse-freigabe"):  # the tour's editor and approver
        staff = city.staff_member(member)
        assert staff is not None
        assert staff.name in FIRST_SCREEN
    assert "docs/architecture.md" in FIRST_SCREEN


def test_setup_follows_the_tour_and_internals_live_in_docs() -> None:
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings.index("Connect Telegram") < headings.index("Connect WhatsApp")
    assert "Architecture" not in headings
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for internal in ("## The broadcast engine", "## Scheduling and digests", "## Storage", "GCRA"):
        assert internal in architecture
        assert internal not in README


def test_the_readme_explains_what_a_first_evaluation_trips_over() -> None:
    assert ".venv/bin/stadtfunk" in README
    cli = README[README.index("## Command line") :]
    assert "`DATA_DIR`" in cli[:2000]
    assert "--sandbox" in cli[:2000]
    assert "numeric Telegram id" in README
    assert "Show Peer IDs" in README
    telegram = README[README.index("## Connect Telegram") : README.index("## Connect WhatsApp")]
    assert "22:00 and 07:00" in telegram
    assert "Trotzdem jetzt senden" in telegram


def test_every_setting_command_target_path_and_city_key_is_named() -> None:
    for field in Settings.model_fields:
        assert f"`{field.upper()}" in README, field.upper()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in commands.choices:
        assert f"stadtfunk {command}" in README, command
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert phony is not None
    for target in phony.group(1).split():
        assert f"make {target}" in README, target
    for path in ("/webhooks/telegram", "/webhooks/whatsapp", "/healthz", "/readyz", "/metrics"):
        assert path in README, path
    sections: tuple[type[BaseModel], ...] = (
        City, Topic, StaffMember, FaqEntry, Privacy, QuietHours, Retention, Feed, Warnings, Flood,
    )  # fmt: skip
    for model in sections:
        for key, info in model.model_fields.items():
            named = info.alias or key
            assert f"`{named}`" in README, f"{model.__name__}.{named}"


def test_the_readme_names_each_state_with_the_catalogs_word() -> None:
    texts = Texts.load()
    for state in State:
        german, english = (words.state_word(texts, language, state) for language in ("de", "en"))
        assert f"| {german} | {english} |" in README, state
