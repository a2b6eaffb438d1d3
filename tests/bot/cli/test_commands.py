"""The operator's commands through the real `stadtfunk` entry point, against a running service's Redis."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.cli.main import build_parser
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import Say, approve, edit_city
from tests.fakes.telegram_api import FakeTelegram
from tests.traces import traces

EDITOR, APPROVER = 100002, 100003
RESIDENT, OTHER = 4711, 4712


async def subscribe(say: Say, chat: int, topic: str) -> None:
    await say(chat, "/start")
    await say(chat, "/zustimmen")
    await say(chat, f"/abo {topic}")


async def test_stats_and_the_aggregate_export_hold_counts_only(say: Say, cli: Any) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    await subscribe(say, OTHER, "verkehr")
    await say(OTHER, "/abo kultur")
    stats = await cli("stats")
    assert stats.returncode == 0, stats.stderr
    rows = {tuple(line.split()[:3]) for line in stats.stdout.splitlines()}
    assert {("telegram", "2", "(0"), ("whatsapp", "0", "(0")} <= rows, "people, each counted once"
    assert {("verkehr", "telegram", "2"), ("kultur", "telegram", "1"), ("kultur", "whatsapp", "0")} <= rows
    refused = await cli("export-subscribers")
    assert refused.returncode == 2
    assert "only aggregate counts are exported: add --aggregate" in refused.stderr
    export = await cli("export-subscribers", "--aggregate")
    assert export.returncode == 0, export.stderr
    lines = export.stdout.splitlines()
    assert lines[0] == "topic,channel,subscribers"
    assert {"verkehr,telegram,2", "kultur,telegram,1", "baustellen,telegram,0"} <= set(lines)
    for output in (stats.stdout, export.stdout):
        assert str(RESIDENT) not in output
        assert str(OTHER) not in output


async def daily_and_immediate_readers(say: Say) -> None:
    """One resident on two topics with the daily digest, one on one topic at once."""
    await subscribe(say, RESIDENT, "verkehr")
    await say(RESIDENT, "/abo baustellen")
    await say(RESIDENT, "/zustellung taeglich")
    await subscribe(say, OTHER, "verkehr")


async def test_stats_count_daily_digest_readers_in_each_topic(say: Say, cli: Any) -> None:
    await daily_and_immediate_readers(say)
    stats = await cli("stats")
    assert stats.returncode == 0, stats.stderr
    rows = {tuple(line.split()[:3]) for line in stats.stdout.splitlines()}
    expected = {("verkehr", "telegram", "2"), ("baustellen", "telegram", "1"), ("kultur", "telegram", "0")}
    assert expected <= rows


async def test_the_aggregate_export_counts_daily_digest_readers_in_each_topic(say: Say, cli: Any) -> None:
    await daily_and_immediate_readers(say)
    export = await cli("export-subscribers", "--aggregate")
    assert export.returncode == 0, export.stderr
    expected = {"verkehr,telegram,2", "baustellen,telegram,1", "kultur,telegram,0"}
    assert expected <= set(export.stdout.splitlines())


async def test_broadcast_follows_the_four_eyes_rules(
    say: Say, cli: Any, tg: FakeTelegram, city_file: Path
) -> None:
    # The command runs on the wall clock: without quiet hours, news goes out whatever the hour.
    edit_city(city_file, 'start: "22:00"\n  end: "07:00"', 'start: "00:00"\n  end: "00:00"')
    await subscribe(say, RESIDENT, "verkehr")
    await subscribe(say, OTHER, "sternwarte")
    drafted = await cli(
        "broadcast", "--as", "presse-redaktion", "--topic", "verkehr", "--text", "B7 gesperrt."
    )
    assert drafted.returncode == 0, drafted.stderr
    assert "broadcast 1: waiting for approval by one of:" in drafted.stdout
    assert "Sabine Wagner" in drafted.stdout
    assert not any("B7 gesperrt" in str(c.params.get("text")) for c in tg.sent(RESIDENT))
    [shown] = await say(APPROVER, "/freigeben 1")
    assert shown.startswith("Bitte prüfen Sie Fassung "), "a typed approval first shows what it approves"
    await approve(say, tg, APPROVER, 1)
    await tg.wait_for(lambda t: any("B7 gesperrt" in str(c.params.get("text")) for c in t.sent(RESIDENT)))
    # The observatory's topic needs no approval: out at once, through the running service's senders.
    direct = await cli("broadcast", "--as", "sternwarte", "--topic", "sternwarte", "--text", "Heute Saturn!")
    assert direct.returncode == 0, direct.stderr
    assert "broadcast 2: sending" in direct.stdout
    await tg.wait_for(lambda t: any("Heute Saturn!" in str(c.params.get("text")) for c in t.sent(OTHER)))
    assert not any("Heute Saturn!" in str(c.params.get("text")) for c in tg.sent(RESIDENT))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--as", "niemand", "--topic", "verkehr", "--text", "x"), "'niemand': no such staff member"),
        (
            ("--as", "sternwarte", "--topic", "verkehr", "--text", "x"),
            "sternwarte is not an editor for verkehr",
        ),
        (("--as", "presse-redaktion", "--topic", "mond", "--text", "x"), "--topic 'mond': no such topic"),
        (("--as", "presse-redaktion", "--topic", "verkehr", "--text", " "), "--text is empty"),
        (
            ("--as", "presse-redaktion", "--topic", "verkehr", "--text", "x", "--alert"),
            "presse-redaktion may not send alerts for verkehr",
        ),
        (("--as", "presse-redaktion", "--topic", "verkehr"), "the following arguments are required: --text"),
    ],
)
async def test_broadcast_refusals_are_named(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = await cli("broadcast", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_resident_is_exported_and_erased_by_letter(say: Say, cli: Any, redis: aioredis.Redis) -> None:
    await subscribe(say, RESIDENT, "verkehr")
    exported = await cli("export-resident", "--channel", "telegram", "--id", str(RESIDENT))
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert (data["messenger"], data["chat_id"], data["topics"]) == ("telegram", str(RESIDENT), ["verkehr"])
    erased = await cli("erase-resident", "--channel", "tg", "--id", str(RESIDENT))
    assert erased.returncode == 0, erased.stderr
    assert f"telegram id {RESIDENT}: erased" in erased.stdout
    assert await traces(redis, str(RESIDENT)) == []
    again = await cli("export-resident", "--channel", "telegram", "--id", str(RESIDENT))
    assert again.returncode == 1
    assert f"nothing is stored about telegram id {RESIDENT}" in again.stdout
    wrong = await cli("erase-resident", "--channel", "fax", "--id", "1")
    assert wrong.returncode == 2
    assert "expected one of telegram (tg), whatsapp (wa), sandbox (sb), got 'fax'" in wrong.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    (subcommands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = list(subcommands.choices)
    assert {"stats", "export-subscribers", "broadcast", "export-resident", "erase-resident"} <= set(commands)
    for command in commands:
        result = stadtfunk(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"usage: stadtfunk {command}" in result.stdout
