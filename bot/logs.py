"""Logging that never carries a secret, a chat id or a message text.

stadtfunk's own log lines name only kinds of events and outcomes. Libraries are less careful:
httpx logs every request URL, which holds the bot token, and python-telegram-bot logs whole updates
at DEBUG. Those loggers are held at WARNING whatever LOG_LEVEL says, and a filter blanks any secret
that still slips into a line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

CHATTY_LIBRARIES = ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access", "hpack")
REDACTED = "[redacted]"


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message or record.exc_info:
            record.msg, record.args = cleaned, None
            # A traceback can quote a request URL; keep only the exception's kind.
            if record.exc_info and record.exc_info[0] is not None:
                record.msg = f"{cleaned} ({record.exc_info[0].__name__})"
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(level: str, secrets: Iterable[str], stream: object = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
