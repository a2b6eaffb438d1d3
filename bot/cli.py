"""The `stadtfunk` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.city import CityFileError, load_city
from bot.connection import StorageError
from bot.embedded_redis import EmbeddedRedisError
from bot.logs import configure_logging
from bot.service import ConfigurationError, Service
from bot.settings import Settings
from bot.telegram import TelegramStartError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stadtfunk", description="A city's messenger broadcast service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the service (messenger adapters, web server)")
    commands.add_parser("check-config", help="validate the environment and the city file, then exit")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(_describe_settings_error(exc))
    try:
        if args.command == "check-config":
            return check_config(settings)
        return run(settings)
    except (CityFileError, ConfigurationError, StorageError, EmbeddedRedisError, TelegramStartError) as exc:
        return _fail(str(exc))


def check_config(settings: Settings) -> int:
    city = load_city(settings.city_config)
    print(f"{settings.city_config}: OK ({city.name}, {len(city.topics)} topics, {len(city.staff)} staff)")
    return 0


def run(settings: Settings) -> int:
    secrets = [
        s.get_secret_value() for s in (settings.telegram_bot_token, settings.telegram_webhook_secret) if s
    ]
    if settings.redis_url is not None:
        secrets.append(settings.redis_url.get_secret_value())
    configure_logging(settings.log_level, secrets)
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


if __name__ == "__main__":
    sys.exit(main())
