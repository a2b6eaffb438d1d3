"""The `stadtfunk` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from bot.cli.broadcast import broadcast
from bot.cli.common import CommandError, messenger
from bot.cli.feeds import show_feeds
from bot.cli.figures import export_subscribers, show_stats
from bot.cli.residents import erase_resident, export_resident
from bot.control import Announcement, ControlChannel
from bot.logs import configure_logging
from bot.sandbox.adapter import sandbox_settings
from bot.service import Service
from bot.settings import ConfigurationError, Settings
from bot.storage.client import StorageError, open_storage
from bot.storage.embedded import EmbeddedRedisError
from bot.telegram.adapter import TelegramStartError
from broadcasts.audit import AuditLog
from broadcasts.store import BroadcastStore, Progress
from city.config import CityFileError, load_city
from city.values import Channel

EXIT_USAGE = 2


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
    audit = commands.add_parser("audit", help="staff actions as JSON lines, oldest first")
    audit.add_argument(
        "--since", type=_moment, default=None, help="a date (2026-11-01) or ISO time; default: 30 days ago"
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
        settings = Settings()
    except ValidationError as exc:
        return _fail(_describe_settings_error(exc))
    if args.sandbox:
        settings = sandbox_settings(settings)
    try:
        return dispatch(args, settings)
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
        case "audit":
            return asyncio.run(export_audit(settings, args.since or datetime.now(UTC) - timedelta(days=30)))
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
    storage = await open_storage(settings, service=False)
    try:
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
    finally:
        await storage.close()


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
    storage = await open_storage(settings, service=False)
    try:
        receivers = await ControlChannel(storage.redis, storage.keys).announce(Announcement.RELOAD)
    finally:
        await storage.close()
    if receivers == 0:
        return _fail("no running stadtfunk service listens on this Redis; nothing was reloaded")
    print(f"{settings.city_config}: {city.name} reloaded by {receivers} service process(es)")
    return 0


async def export_audit(settings: Settings, since: datetime) -> int:
    storage = await open_storage(settings, service=False)
    try:
        async for entry in AuditLog(storage.redis, storage.keys.audit()).since(since):
            print(json.dumps(entry.as_json(), ensure_ascii=False))
        return 0
    finally:
        await storage.close()


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
    secrets = [
        s.get_secret_value() for s in (settings.telegram_bot_token, settings.telegram_webhook_secret) if s
    ]
    if settings.redis_url is not None:
        secrets.append(settings.redis_url.get_secret_value())
    configure_logging(settings.log_level, secrets, log_format=settings.log_format.value)
    service = Service(settings)
    asyncio.run(service.run_until_signalled())
    return 0


def _describe_settings_error(exc: ValidationError) -> str:
    lines = ["the environment is not valid:"]
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def _fail(message: str) -> int:
    print(f"stadtfunk: {message}", file=sys.stderr)
    return EXIT_USAGE
