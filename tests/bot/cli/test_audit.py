"""`stadtfunk audit` against a running service: the chain is verified and names the first broken entry,
times come from the stream ids, exports are JSON lines or CSV, and what the command line does is
recorded as coming from it, by the operating system's user."""

from __future__ import annotations

import csv
import getpass
import io
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tests.bot.conftest import Say, approve
from tests.bot.test_staff_flow import APPROVER, EDITOR, notified, subscribe
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram


async def four_entries(say: Say, tg: FakeTelegram) -> None:
    """Draft, submit, approve, send: the desk's day in four audited steps."""
    await say(EDITOR, "/meldung verkehr Sperrung der B7")
    await say(EDITOR, "/einreichen 1")
    await notified(tg, APPROVER, "bittet um Freigabe von #1")
    await approve(say, tg, APPROVER, 1)


async def stream(redis: aioredis.Redis, key_prefix: str) -> list[tuple[str, dict[str, str]]]:
    found: Any = await redis.xrange(f"{key_prefix}:audit")
    return list(found)


async def test_verify_an_intact_chain_and_after_an_entry_was_deleted(
    say: Say, tg: FakeTelegram, cli: Any, redis: aioredis.Redis, key_prefix: str
) -> None:
    empty = await cli("audit", "--verify")
    assert (empty.returncode, empty.stdout) == (0, "the audit log is empty\n")
    await four_entries(say, tg)
    intact = await cli("audit", "--verify")
    assert intact.returncode == 0, intact.stderr
    entries = await stream(redis, key_prefix)
    assert intact.stdout == f"the audit log is intact: 4 entries, {entries[0][0]} to {entries[-1][0]}\n"

    approval_id = next(entry_id for entry_id, fields in entries if fields["action"] == "approve")
    await redis.xdel(f"{key_prefix}:audit", approval_id)  # someone removes the real approval
    broken = await cli("audit", "--verify")
    assert broken.returncode == 1
    assert broken.stderr.splitlines(keepends=True)[-1] == (
        f"stadtfunk: the audit log is broken at entry {entries[3][0]} (#4): the entry before it (#3) is "
        "missing: deleted; 2 entries before it are intact\n"
    )


async def test_a_back_dated_entry_cannot_be_slipped_in(
    say: Say, tg: FakeTelegram, cli: Any, redis: aioredis.Redis, key_prefix: str
) -> None:
    await four_entries(say, tg)
    key = f"{key_prefix}:audit"
    entries = await stream(redis, key_prefix)
    forged: dict[Any, Any] = {
        "who": "presse-freigabe",
        "action": "approve",
        "broadcast": "1",
        "at": "2026-01-01T08:00:00+00:00",
    }
    with pytest.raises(ResponseError, match="equal or smaller"):
        # The time is the stream id, and Redis never takes an id below the newest.
        await redis.xadd(key, forged, id="1767254400000-0")
    await redis.xadd(key, forged | {"n": "5", "mac": "0" * 64})
    [(slipped_in, _)] = (await stream(redis, key_prefix))[4:]
    broken = await cli("audit", "--verify")
    assert broken.returncode == 1
    assert f"broken at entry {slipped_in} (#5): its keyed hash does not match" in broken.stderr

    exported = await cli("audit", "--since", "2026-01-01")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["id"] for line in lines] == [entry_id for entry_id, _ in entries] + [slipped_in]
    assert not lines[-1]["at"].startswith("2026-01-01"), "a time field in the entry is not its time"


async def test_deleted_newest_entries_and_a_different_secret_are_named(
    say: Say, tg: FakeTelegram, cli: Any, redis: aioredis.Redis, key_prefix: str
) -> None:
    await four_entries(say, tg)
    entries = await stream(redis, key_prefix)
    other = await cli("audit", "--verify", AUDIT_HMAC_SECRET="not-the-secret-it-was-written-with")
    assert other.returncode == 1
    assert f"broken at entry {entries[0][0]} (#1): its keyed hash does not match" in other.stderr
    await redis.xdel(f"{key_prefix}:audit", entries[-1][0])
    truncated = await cli("audit", "--verify")
    assert truncated.returncode == 1
    assert f"broken at entry {entries[-1][0]}: the newest entries were deleted" in truncated.stderr


async def test_export_as_csv(say: Say, tg: FakeTelegram, cli: Any) -> None:
    await four_entries(say, tg)
    result = await cli("audit", "--since", "2026-11-01", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["n"], r["who"], r["action"], r["via"]) for r in rows] == [
        ("1", "presse-redaktion", "draft", "telegram"),
        ("2", "presse-redaktion", "submit", "telegram"),
        ("3", "presse-freigabe", "approve", "telegram"),
        ("4", "presse-freigabe", "send", "telegram"),
    ]
    assert rows[2]["at"].startswith("2026-11-23T09:00:")  # the service's clock, from the stream id
    assert rows[2]["version"] == rows[3]["version"] != ""
    bad = await cli("audit", "--format", "xml")
    assert bad.returncode == 2
    assert "invalid choice: 'xml'" in bad.stderr


async def test_the_command_line_acts_with_a_named_persons_rights_and_is_recorded_as_such(
    say: Say, cli: Any
) -> None:
    drafted = await cli(
        "broadcast", "--as", "presse-redaktion", "--topic", "verkehr", "--text", "B7 gesperrt."
    )
    assert drafted.returncode == 0, drafted.stderr
    assert drafted.stderr.startswith(
        "acting as presse-redaktion (Jonas Becker (Presseamt)) with their rights; the audit log records it "
        f"as from the command line, run by {getpass.getuser()}"
    )
    exported = await cli("audit", "--since", "2026-01-01")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(e["who"], e["action"], e["via"], e["os_user"]) for e in lines] == [
        ("presse-redaktion", "draft", "cli", getpass.getuser()),
        ("presse-redaktion", "submit", "cli", getpass.getuser()),
    ]
    nobody = await cli("broadcast", "--as", "root", "--topic", "verkehr", "--text", "x")
    assert nobody.returncode == 2
    assert "--as 'root': no such staff member" in nobody.stderr


async def test_export_and_erasure_by_letter_are_audited_without_the_resident(
    say: Say, cli: Any, redis: aioredis.Redis, key_prefix: str
) -> None:
    # A chat id long enough not to turn up by chance inside a stream id or a keyed hash.
    resident = 918273645
    await subscribe(say, resident, "verkehr")
    assert (await cli("export-resident", "--channel", "telegram", "--id", str(resident))).returncode == 0
    assert (await cli("erase-resident", "--channel", "telegram", "--id", str(resident))).returncode == 0
    exported = await cli("audit", "--since", "2026-01-01")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(e["who"], e["action"], e["via"], e["os_user"], e["broadcast"]) for e in lines] == [
        ("operator", "export", "cli", getpass.getuser(), None),
        ("operator", "erasure", "cli", getpass.getuser(), None),
    ]
    assert str(resident) not in exported.stdout
    raw = await stream(redis, key_prefix)
    assert not any(str(resident) in value for _, fields in raw for value in fields.values())


async def test_a_retention_trim_keeps_the_chain_verifiable(
    say: Say, tg: FakeTelegram, cli: Any, clock: ManualClock, redis: aioredis.Redis, key_prefix: str
) -> None:
    await four_entries(say, tg)
    clock.advance(days=400)
    await say(EDITOR, "/meldung verkehr Ein Jahr später")
    trimmed = await cli("audit", "--trim-before", "2027-01-01")
    assert trimmed.returncode == 0, trimmed.stderr
    assert trimmed.stdout.startswith("4 audit entries before 2027-01-01T00:00:00+00:00 dropped")
    entries = await stream(redis, key_prefix)
    assert [fields["action"] for _, fields in entries] == ["draft", "trim"]
    assert (entries[1][1]["via"], entries[1][1]["os_user"]) == ("cli", getpass.getuser())
    intact = await cli("audit", "--verify")
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("the audit log is intact: 2 entries")
    # Without the trim entry that vouches for it, the start of the log is a gap like any other.
    await redis.xdel(f"{key_prefix}:audit", entries[1][0])
    assert (await cli("audit", "--verify")).returncode == 1
