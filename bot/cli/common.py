"""What the `stadtfunk` commands share: their error, a Redis connection for one command, channel names."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.sandbox.adapter import sandbox_settings
from bot.settings import Settings
from bot.storage.client import Storage, open_storage, require_data_dir
from city.keys import Keys
from city.values import Channel

CHANNEL_NAMES = {"telegram": Channel.TELEGRAM, "whatsapp": Channel.WHATSAPP, "sandbox": Channel.SANDBOX}


class CommandError(Exception):
    """A command that cannot do what was asked; `str()` is the whole message for the operator."""


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Storage]:
    """The service's data for one command; never a new, empty store in the wrong directory."""
    require_data_dir(settings)
    storage = await open_storage(settings, service=False)
    try:
        await _require_own_data(storage, settings)
        # On stderr, so that the figures on stdout stay clean for a pipe or a file.
        print(f"stadtfunk: reading {data_source(settings)}", file=sys.stderr)
        yield storage
    finally:
        await storage.close()


def data_source(settings: Settings) -> str:
    """Where a command reads, for the operator: never the URL, which may carry a password."""
    if settings.redis_url is not None:
        return f"the Redis at REDIS_URL, key prefix {settings.redis_key_prefix}"
    return f"DATA_DIR {Path(settings.data_dir).resolve()}, key prefix {settings.redis_key_prefix}"


async def _require_own_data(storage: Storage, settings: Settings) -> None:
    """Only the service stamps its prefix; a store that only a sandbox ever used gets a hint at --sandbox."""
    if await storage.redis.exists(storage.keys.schema()):
        return
    sandbox = Keys(sandbox_settings(settings).redis_key_prefix)
    if await storage.redis.exists(sandbox.schema()):
        raise CommandError(
            f"{data_source(settings)} holds only the sandbox's data; "
            "add --sandbox to act on it, e.g. `stadtfunk --sandbox audit`"
        )


def messenger(text: str) -> Channel:
    """A messenger by name (telegram) or by its short form in keys (tg)."""
    name = text.strip().lower()
    if name in CHANNEL_NAMES:
        return CHANNEL_NAMES[name]
    try:
        return Channel(name)
    except ValueError:
        names = ", ".join(f"{n} ({c.value})" for n, c in CHANNEL_NAMES.items())
        raise argparse.ArgumentTypeError(f"expected one of {names}, got {text!r}") from None


def figure_channels(sandbox: bool) -> tuple[Channel, ...]:
    """The channels whose residents a deployment holds: the messengers, or the sandbox's chats."""
    return (Channel.SANDBOX,) if sandbox else (Channel.TELEGRAM, Channel.WHATSAPP)


def os_user() -> str:
    """Who runs the command, as the operating system knows them, for the audit log."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}"
