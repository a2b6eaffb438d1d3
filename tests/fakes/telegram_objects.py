"""Bot API wire format for the fake: value types, request decoding, JSON builders, rate windows.

Shapes follow https://core.telegram.org/bots/api; see `telegram_api.FakeTelegram` for the server.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

# Parameters that are strings in the Bot API: never JSON-decoded, even when they look like "42" or "true".
_STRINGS = (
    "text caption callback_query_id url secret_token language_code parse_mode inline_message_id "
    "business_connection_id message_effect_id ip_address document photo thumbnail"
)
STRING_PARAMS = frozenset(_STRINGS.split())
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# Only sent when asked for explicitly in allowed_updates (see getUpdates).
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook first"


class ApiError(Exception):
    """An error answer: `{"ok": false, "error_code": status, "description": ..., "parameters": {...}}`."""

    def __init__(self, status: int, description: str, **parameters: int | None) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.parameters = {key: value for key, value in parameters.items() if value is not None}

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        return body | ({"parameters": self.parameters} if self.parameters else {})


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it; `params` decoded whatever the encoding, uploads as UploadedFile."""

    method: str
    params: dict[str, Any]
    at: float
    status: int
    result_id: int | None = None  # the message_id of the Message the call answered, if any

    @property
    def chat_id(self) -> str | None:
        """`chat_id` as a string, whether it arrived as int (JSON, PTB) or str."""
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class RateRule:
    """Telegram's flood limits, enforced on sendMessage/sendDocument/sendPhoto over the injected clock.

    Sliding windows: within any `burst` seconds at most `global_per_s * burst` sends in total and
    `per_chat_per_s * burst` to one chat are accepted; a group chat (negative id) additionally takes at most
    `per_group_per_min` in any 60 s. With the default burst=1.0 that is a sliding 1 s window whose burst
    equals the per-second count (30 at once pass, the 31st is refused). A refused send answers 429
    "retry after 1", counts in `FakeTelegram.too_many` and takes no room in the windows.
    None disables a limit.
    """

    global_per_s: int | None = 30
    per_chat_per_s: int | None = 1
    per_group_per_min: int | None = 20
    burst: float = 1.0


class RateWindows:
    def __init__(self, rule: RateRule) -> None:
        self.rule = rule
        self._windows: dict[str, deque[float]] = defaultdict(deque)

    def admit(self, chat: str, now: float) -> bool:
        """Record a send to `chat` at `now` if every limit allows it."""
        rule, span = self.rule, self.rule.burst
        limits = [("*", rule.global_per_s, span), (chat, rule.per_chat_per_s, span)]
        if chat.startswith("-"):
            limits.append((f"{chat}/min", rule.per_group_per_min, 60.0))
        windows = []
        for key, limit, length in limits:
            if limit is not None:
                window = self._windows[key]
                while window and window[0] <= now - length:
                    window.popleft()
                if len(window) >= (limit if length == 60.0 else round(limit * span)):
                    return False
                windows.append(window)
        for window in windows:
            window.append(now)
        return True


def decode_value(key: str, value: Any, *, form: bool) -> Any:
    """Decode one request parameter to the Python value the Bot API means.

    Form fields (PTB style: every non-string value JSON-encoded) decode when they look like JSON objects,
    arrays, numbers or booleans; in JSON bodies only JSON-serialized objects/arrays (e.g. reply_markup sent
    as a string) are decoded. Known string parameters (`STRING_PARAMS`) stay as sent.
    """
    if not isinstance(value, str) or key in STRING_PARAMS:
        return value
    if value[:1] in ("{", "[") or (form and (value in ("true", "false", "null") or _NUMBER.fullmatch(value))):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def read_params(request: web.Request) -> JSON:
    """Query string plus a JSON, form-encoded or multipart body; uploads become UploadedFile."""
    params = {key: decode_value(key, value, form=True) for key, value in request.query.items()}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON body must be an object")
        params |= {key: decode_value(key, value, form=False) for key, value in body.items()}
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
            else:
                params[key] = decode_value(
                    key, value if isinstance(value, str) else value.decode(), form=True
                )
    for key, value in list(params.items()):  # "attach://<part>" references an uploaded part
        if isinstance(value, str) and isinstance(params.get(value.removeprefix("attach://")), UploadedFile):
            params[key] = params.pop(value.removeprefix("attach://"))
    return params


def text_param(params: JSON) -> str:
    text = str(params.get("text") or "")
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def inline_markup(params: JSON) -> JSON | None:
    """reply_markup as a Message echoes it: only inline keyboards; callback_data is at most 64 bytes."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        if any(len(str(button.get("callback_data", "")).encode()) > 64 for button in row):
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def check_commands(commands: Any) -> list[JSON]:
    if not isinstance(commands, list):
        raise ApiError(400, 'Bad Request: field "commands" must be an Array')
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description") or "")) <= 256:
            raise ApiError(400, "Bad Request: command description is empty or too long")
    return commands


def commands_key(params: JSON) -> tuple[str, str]:
    """Commands are stored per (scope, language_code); the scope as canonical JSON."""
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def now() -> int:
    return int(time.time())


def user(user_id: int, first_name: str, *, is_bot: bool = False, **extra: Any) -> JSON:
    base: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    return base | {key: value for key, value in extra.items() if value is not None}


def chat(chat_id: int, chat_type: str = "", name: str = "Erika") -> JSON:
    """A Chat; without `chat_type` guessed from the id (-100 + 10 digits: supergroup, other < 0: group)."""
    if not chat_type:
        chat_type = "private" if chat_id > 0 else "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    return {"id": chat_id, "type": chat_type, ("first_name" if chat_type == "private" else "title"): name}


def message(message_id: int, chat: JSON, sender: JSON, **fields: Any) -> JSON:
    """A Message; fields that are None (caption, reply_markup, entities, …) are left out."""
    base: JSON = {"message_id": message_id, "from": sender, "chat": chat, "date": now()}
    return base | {key: value for key, value in fields.items() if value is not None}


def command_entities(text: str) -> list[JSON] | None:
    """The `bot_command` entity Telegram attaches to a text starting with "/" (length in UTF-16 units)."""
    if not text.startswith("/"):
        return None
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def is_allowed(update: JSON, allowed_updates: list[str]) -> bool:
    kind = next((key for key in update if key != "update_id"), "")
    return kind in allowed_updates if allowed_updates else kind not in OPT_IN_UPDATES
