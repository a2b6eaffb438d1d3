"""Logging that never carries a secret, a chat id or a message text: one line per event.

stadtfunk's own log lines name only kinds of events and outcomes. LOG_FORMAT=json writes each event
as one JSON object; the text format is one line too. Neither ever prints a traceback (its lines can
quote values), only the kind of exception. Libraries are less careful:
httpx logs every request URL, which holds the bot token, and python-telegram-bot logs whole updates
at DEBUG. Those loggers are held at WARNING whatever LOG_LEVEL says, and a filter blanks any secret
that still slips into a line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

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


class LineFormatter(logging.Formatter):
    """`time level logger: event`, with line breaks escaped and an exception as its kind only."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        event = _event(record)
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {event['event']}"
        if "error" in event:
            line += f" ({event['error']})"
        return line.replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, event and the exception's kind."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return json.dumps(
            {"time": at, "level": record.levelname, "logger": record.name, **_event(record)},
            ensure_ascii=False,
        )


def _event(record: logging.LogRecord) -> dict[str, str]:
    event = {"event": record.getMessage()}
    if record.exc_info and record.exc_info[0] is not None:
        event["error"] = record.exc_info[0].__name__
    return event


def configure_logging(
    level: str, secrets: Iterable[str], stream: object = None, log_format: str = "text"
) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if log_format == "json" else LineFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
