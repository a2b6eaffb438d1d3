"""The `stadtfunk` command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from bot.assembly import audit_log
from bot.cli.broadcast import broadcast
from bot.cli.common import CommandError, connected, messenger, os_user
from bot.cli.feeds import show_feeds
from bot.cli.figures import export_subscribers, show_stats
from bot.cli.residents import erase_resident, export_resident
from bot.control import Announcement, ControlChannel
from bot.logs import configure_logging
from bot.sandbox.adapter import sandbox_settings
from bot.service import Service
from bot.settings import ConfigurationError, Settings, load_settings
from bot.signals import run_until_signalled
from bot.storage.client import StorageError
from bot.storage.embedded import EmbeddedRedisError
from bot.telegram.receiver import TelegramStartError
from broadcasts.audit import OPERATOR, Action, Entry, Via
from broadcasts.progress import Progress
from broadcasts.store import BroadcastStore
from city.config import CityFileError, load_city
from city.values import Channel

EXIT_USAGE = 2
EXIT_BROKEN = 1
AUDIT_COLUMNS = ("id", "n", "at", "who", "action", "broadcast", "version", "via", "os_user", "detail")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stadtfunk", description="A city's messenger broadcast service.")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="act on the sandbox's data (what `run` keeps when no messenger is configured)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", help="run the service (messenger adapters, web server; sandbox without messengers)"
    )
    commands.add_parser("check-config", help="validate the environment and the city file, then exit")
    status = commands.add_parser("status", help="progress of one broadcast, or of all running ones")
    status.add_argument("id", nargs="?", help="broadcast id (as shown to staff, e.g. 42)")
    commands.add_parser("reload", help="make every running service read the city file again (or send SIGHUP)")
    audit = commands.add_parser(
        "audit", help="the audit log: staff actions oldest first (JSON lines or CSV), or --verify its chain"
    )
    audit.add_argument(
        "--since", type=_moment, default=None, help="a date (2026-11-01) or ISO time; default: 30 days ago"
    )
    audit.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default: jsonl")
    audit.add_argument(
        "--verify",
        action="store_true",
        help="check the whole chain of keyed hashes; exit 1 naming the first broken entry",
    )
    audit.add_argument(
        "--trim-before",
        type=_moment,
        default=None,
        metavar="DATE",
        help="drop entries older than DATE (a retention limit), recorded in the chain so that --verify holds",
    )
    commands.add_parser("feeds", help="each feed of the city file: last poll, last new item, errors")
    commands.add_parser("stats", help="subscribers per topic and channel, broadcasts and deliveries per day")
    export = commands.add_parser("export-subscribers", help="subscriber counts per topic and channel as CSV")
    export.add_argument("--aggregate", action="store_true", help="counts only (the only export there is)")
    send = commands.add_parser(
        "broadcast", help="draft and submit a broadcast as a staff member (four-eyes rules apply)"
    )
    send.add_argument("--as", dest="staff", required=True, metavar="STAFF", help="staff id in the city file")
    send.add_argument("--topic", required=True, help='topic id (an alert may use "alle")')
    send.add_argument("--text", required=True, help="the German text")
    send.add_argument("--text-en", default=None, help="the English text (optional)")
    send.add_argument("--alert", action="store_true", help="an urgent alert (needs the alert role)")
    for name, what in (
        ("export-resident", "print everything stored about one resident as JSON"),
        ("erase-resident", "erase everything stored about one resident"),
    ):
        person = commands.add_parser(name, help=what)
        person.add_argument("--channel", required=True, type=messenger, help="telegram (tg) or whatsapp (wa)")
        person.add_argument(
            "--id", required=True, dest="chat_id", help="chat id (Telegram) or number (WhatsApp)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        return _fail(_describe_settings_error(exc))
    except ConfigurationError as exc:
        return _fail(str(exc))
    if args.sandbox:
        settings = sandbox_settings(settings)
    try:
        code = dispatch(args, settings)
        # Inside the try: a pipe closed early shows only when the last buffered output goes out.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_gone()
    except (
        CityFileError,
        CommandError,
        ConfigurationError,
        StorageError,
        EmbeddedRedisError,
        TelegramStartError,
    ) as exc:
        return _fail(str(exc))


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    sandbox: bool = args.sandbox
    match args.command:
        case "check-config":
            return check_config(settings)
        case "status":
            return asyncio.run(show_status(settings, args.id))
        case "reload":
            return asyncio.run(reload_services(settings))
        case "audit" if args.verify:
            return asyncio.run(verify_audit(settings))
        case "audit" if args.trim_before:
            return asyncio.run(trim_audit(settings, args.trim_before))
        case "audit":
            since = args.since or datetime.now(UTC) - timedelta(days=30)
            return asyncio.run(export_audit(settings, since, args.format))
        case "feeds":
            return asyncio.run(show_feeds(settings))
        case "stats":
            return asyncio.run(show_stats(settings, sandbox=sandbox))
        case "export-subscribers":
            return asyncio.run(export_subscribers(settings, sandbox=sandbox, aggregate=args.aggregate))
        case "broadcast":
            return asyncio.run(
                broadcast(
                    settings,
                    sandbox=sandbox,
                    staff_id=args.staff,
                    topic=args.topic,
                    text=args.text,
                    text_en=args.text_en,
                    alert=args.alert,
                )
            )
        case "export-resident":
            return asyncio.run(export_resident(settings, args.channel, args.chat_id))
        case "erase-resident":
            return asyncio.run(erase_resident(settings, args.channel, args.chat_id))
    return run(settings)


def check_config(settings: Settings) -> int:
    city = load_city(settings.city_config)
    print(f"{settings.city_config}: OK ({city.name}, {len(city.topics)} topics, {len(city.staff)} staff, "
          f"{len(city.feeds)} feeds)")  # fmt: skip
    return 0


async def show_status(settings: Settings, broadcast_id: str | None) -> int:
    async with connected(settings) as storage:
        store = BroadcastStore(storage.redis, storage.keys)
        if broadcast_id is None:
            ids = await store.active.everywhere()
            if not ids:
                print("no broadcast is sending")
            for running in ids:
                print(describe(await store.progress(running), settings))
            return 0
        try:
            progress = await store.progress(broadcast_id)
        except KeyError:
            return _fail(f"there is no broadcast {broadcast_id}")
        print(describe(progress, settings))
        return 0


def describe(progress: Progress, settings: Settings) -> str:
    """Counters, rate so far and time left at the platform limit, for an operator's terminal."""
    limits = {Channel.TELEGRAM: settings.telegram_rate_limit * (1 - settings.rate_limit_margin)}
    now = datetime.now(UTC)
    lines = [
        f"broadcast {progress.broadcast_id}: {progress.state.value}"
        + ("" if progress.planned else " (planning)")
    ]
    for channel, counts in progress.channels.items():
        lines.append(
            f"  {channel.name.lower()}: {counts.settled}/{counts.total} done: {counts.sent} sent, "
            f"{counts.failed} failed, {counts.blocked} blocked, {counts.retired} retired, "
            f"{counts.maybe_duplicate} maybe sent twice"
        )
    if progress.total:
        lines.append(
            f"  {100 * progress.settled / progress.total:.0f} %, {progress.rate(now):.1f}/s so far, "
            f"about {progress.eta_seconds(limits):.0f} s left at the platform limit"
        )
    return "\n".join(lines)


async def reload_services(settings: Settings) -> int:
    city = load_city(settings.city_config)  # refuse a broken file here, with its explanation
    async with connected(settings) as storage:
        receivers = await ControlChannel(storage.redis, storage.keys).announce(Announcement.RELOAD)
    if receivers == 0:
        return _fail("no running stadtfunk service listens on this Redis; nothing was reloaded")
    print(f"{settings.city_config}: {city.name} reloaded by {receivers} service process(es)")
    return 0


async def export_audit(settings: Settings, since: datetime, form: str) -> int:
    async with connected(settings) as storage:
        entries = audit_log(storage, settings).since(since)
        if form == "csv":
            writer = csv.DictWriter(sys.stdout, fieldnames=AUDIT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            async for entry in entries:
                writer.writerow(entry.as_json())
        else:
            async for entry in entries:
                print(json.dumps(entry.as_json(), ensure_ascii=False))
        return 0


async def verify_audit(settings: Settings) -> int:
    """Exit 0 when every entry's keyed hash holds, 1 naming the first entry where the chain breaks."""
    async with connected(settings) as storage:
        report = await audit_log(storage, settings).verify()
    if report.broken is not None:
        broken = report.broken
        number = f" (#{broken.n})" if broken.n is not None else ""
        print(
            f"stadtfunk: the audit log is broken at entry {broken.entry_id}{number}: {broken.reason}; "
            f"{report.entries} entries before it are intact",
            file=sys.stderr,
        )
        return EXIT_BROKEN
    if report.entries == 0:
        print("the audit log is empty")
    else:
        print(f"the audit log is intact: {report.entries} entries, {report.first} to {report.last}")
    return 0


async def trim_audit(settings: Settings, before: datetime) -> int:
    async with connected(settings) as storage:
        entry = Entry(datetime.now(UTC), OPERATOR, Action.TRIM, via=Via.CLI, os_user=os_user())
        dropped = await audit_log(storage, settings).trim(before, entry)
    print(f"{dropped} audit entries before {before.isoformat()} dropped; the log records where it now starts")
    return 0


def _moment(text: str) -> datetime:
    """A date or ISO time from the command line; a date or a time without zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-01 or an ISO time, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.secret_values(), log_format=settings.log_format.value)
    service = Service(settings)
    asyncio.run(run_until_signalled(service))
    return 0


def _describe_settings_error(exc: ValidationError) -> str:
    lines = ["the environment is not valid:"]
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def _reader_gone() -> int:
    """`stadtfunk audit | head`: the reader has all it wanted, which is success, not an error."""
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that flush from failing too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def _fail(message: str) -> int:
    print(f"stadtfunk: {message}", file=sys.stderr)
    return EXIT_USAGE
