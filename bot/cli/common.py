"""What the `stadtfunk` commands share: their error, a Redis connection for one command, channel names."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.settings import Settings
from bot.storage.client import Storage, open_storage
from city.values import Channel

CHANNEL_NAMES = {"telegram": Channel.TELEGRAM, "whatsapp": Channel.WHATSAPP, "sandbox": Channel.SANDBOX}


class CommandError(Exception):
    """A command that cannot do what was asked; `str()` is the whole message for the operator."""


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Storage]:
    storage = await open_storage(settings, service=False)
    try:
        yield storage
    finally:
        await storage.close()


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
