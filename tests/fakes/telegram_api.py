"""An HTTP-level stand-in for the Telegram Bot API, for tests and local runs.

`async with FakeTelegram(token="123:ABC") as tg:` serves `{tg.url}/bot{token}/{method}` on 127.0.0.1;
point TELEGRAM_API_URL at `tg.url`. Bodies may be JSON, form-encoded (PTB) or multipart (uploads); every
request is recorded in `tg.calls`, refused ones included. Tests push user updates (`push_message`,
`push_callback`, `push_raw`), script errors (`fail`, `block`, `fail_*`), keep requests in flight
(`hold`/`release`) and wait without sleeping (`wait_for`, `wait_for_calls`).

Standalone, to run the service against it: `python -m tests.fakes.telegram_api --port 8081 --token 123:ABC`,
then `curl -H 'Content-Type: application/json' -d '{"chat_id": 1, "text": "/start"}'
http://127.0.0.1:8081/_control/message` (also `POST /_control/callback` with {"chat_id", "data"}
and `GET /_control/calls`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import re
import signal
import struct
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Self
from urllib.parse import urlsplit

from aiohttp import ClientSession, web

from tests.fakes import telegram_objects as tgo
from tests.fakes.telegram_objects import JSON, ApiError, Call, RateRule, UploadedFile

__all__ = ["JSON", "STORED", "ApiError", "Call", "FakeTelegram", "RateRule", "UploadedFile"]

# Edits count against a chat's limit as sends do (a correction edits, then replies).
SEND_METHODS = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageCaption"}
)
ChatId = str | int | None


@dataclass
class _Failure:
    method: str
    chat_id: str | None
    error: ApiError
    times: int


class _Stored:
    """Default of `post_to_webhook(secret=...)`: the secret given to setWebhook."""


STORED = _Stored()


class FakeTelegram:
    """Bot API methods are the `_api_<name>` coroutines; names match case-insensitively, as at Telegram."""

    def __init__(
        self,
        token: str = "123:ABC",  # noqa: S107
        *,
        username: str = "stadtfunk_test_bot",
        clock: Callable[[], float] = time.monotonic,
        dates: Callable[[], float] = time.time,
        rate_limit: RateRule | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        control: bool = False,
    ) -> None:
        self.token, self.clock, self.url = token, clock, ""
        self.dates = dates  # epoch seconds for the `date` of users' messages: a test's clock, or real time
        self.bot_user = tgo.user(int(token.partition(":")[0]), "Stadtfunk", is_bot=True, username=username)
        self.rate = tgo.RateWindows(rate_limit) if rate_limit else None
        self.too_many = 0  # sends refused by the rate limit
        self.calls: list[Call] = []
        self.updates: list[JSON] = []  # every pushed update, confirmed or not
        self.files: dict[str, UploadedFile] = {}  # file_id -> upload
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # see commands_for
        self.public_channels: dict[str, int] = {}  # "@name" -> id, channels where the bot is admin
        self.webhook_url: str = ""
        self.webhook_secret: str | None = None
        self.polling = 0  # getUpdates requests waiting right now
        self._host, self._port, self._control = host, port, control
        self._queue: list[JSON] = []  # pushed, not yet confirmed
        self._allowed: list[str] = []
        self._next_update_id, self._poll_generation, self._callback_seq = 10_000, 0, 0
        self._chats: dict[str, JSON] = {}
        self._messages: dict[str, dict[int, JSON]] = defaultdict(dict)  # chat -> bot messages by id
        self._last_message_id: dict[str, int] = defaultdict(int)
        self._file_objects: dict[str, tuple[str, Any]] = {}  # file_id -> (kind, JSON object)
        self._callbacks: dict[str, bool] = {}  # callback_query id -> answered
        self._failures: list[_Failure] = []
        self._blocked: set[str] = set()
        self._hold: set[str] = set()
        self._in_transit: set[str] = set()
        self._hold_chats: set[str] = set()  # empty: a hold holds every chat's requests
        self._held: deque[tuple[str, JSON, asyncio.Future[None]]] = deque()
        self._pulse = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods = {name[5:].lower(): name[5:] for name in dir(self) if name.startswith("_api_")}

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        if self._control:
            app.router.add_post("/_control/{kind}", self._control_push)
            app.router.add_get("/_control/calls", self._control_calls)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.url = f"http://{self._host}:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True  # answers waiting long polls and lets held requests through
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- inspection and waiting
    def sent(self, chat_id: ChatId = None, method: str = "sendMessage") -> list[Call]:
        """Successful calls of `method` (to `chat_id`); refused ones are only in `calls`."""
        return [call for call in self._matching(method, chat_id) if call.ok]

    def texts(self, chat_id: ChatId = None) -> list[str]:
        return [str(call.params["text"]) for call in self.sent(chat_id)]

    def messages(self, chat_id: str | int) -> list[JSON]:
        """The bot's messages in a chat as they stand now (after edits), oldest first."""
        return [msg for _, msg in sorted(self._messages[str(chat_id)].items())]

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON] | None:
        return self.commands.get(tgo.commands_key({"scope": scope, "language_code": language_code}))

    @property
    def held(self) -> list[tuple[str, JSON]]:
        """(method, params) of the requests `hold` keeps in flight, oldest first."""
        return [(method, params) for method, params, _ in self._held]

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._queue)

    async def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until `predicate(self)` holds; re-checked whenever a call is recorded or state changes."""
        if not await self._until(lambda: predicate(self), timeout):
            raise AssertionError(f"FakeTelegram: condition not met within {timeout} s, {self.dump()}")

    async def wait_for_calls(
        self,
        method: str,
        chat_id: ChatId = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait for `count` calls of `method` (to `chat_id`), failed ones included; returns all matching."""
        await self.wait_for(lambda tg: len(tg._matching(method, chat_id)) >= count, timeout)
        return self._matching(method, chat_id)

    def dump(self, last: int = 20) -> str:
        lines = [f"  {c.at:.3f} {c.status} {c.method} {c.params}" for c in self.calls[-last:]]
        return f"last {len(lines)} of {len(self.calls)} calls:\n" + "\n".join(lines)

    # --- simulated users
    def push_raw(self, update: JSON) -> int:
        """Queue any update (edited_message, my_chat_member, poll, …); update_id is assigned if missing."""
        update = {"update_id": self._next_update_id, **copy.deepcopy(update)}  # update_id first, as Telegram
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        if "callback_query" in update:
            self._callbacks.setdefault(str(update["callback_query"]["id"]), False)
        self.updates.append(update)
        self._queue.append(update)
        self._changed()
        return update_id

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "de",
        chat_type: str = "private",
        first_name: str = "Erika",
        date: float | None = None,
    ) -> int:
        """A user's text message, written at `date` (default: now by `dates`); a leading "/command" gets
        its bot_command entity."""
        chat = tgo.chat(chat_id, chat_type, first_name if chat_type == "private" else f"Gruppe {chat_id}")
        self._chats[str(chat_id)] = chat
        sender = _user(chat_id, user_id, first_name, language_code)
        entities = tgo.command_entities(text)
        written = int(self.dates() if date is None else date)
        msg = tgo.message(
            self._new_message_id(str(chat_id)), chat, sender, text=text, entities=entities, date=written
        )
        return self.push_raw({"message": msg})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        language_code: str | None = "de",
    ) -> int:
        """A button press on bot message `message_id` (default: the bot's latest message in the chat)."""
        sent = self._messages.get(str(chat_id))
        if not sent or (message_id is not None and message_id not in sent):
            raise LookupError(f"no bot message {message_id or ''} in chat {chat_id} to press a button on")
        msg = sent[max(sent) if message_id is None else message_id]
        self._callback_seq += 1
        sender = _user(chat_id, user_id, msg["chat"].get("first_name", "Erika"), language_code)
        query = {"id": f"{self._callback_seq}{abs(chat_id)}", "from": sender, "message": msg}
        return self.push_raw({"callback_query": query | {"chat_instance": f"-{abs(chat_id)}7", "data": data}})

    async def post_to_webhook(self, update: JSON | int, secret: str | _Stored | None = STORED) -> int:
        """POST an update (or a pushed update's id) to the 127.0.0.1 webhook set via setWebhook.

        Sends `X-Telegram-Bot-Api-Secret-Token` with the stored secret unless `secret` overrides it
        (None: no header). A 2xx answer confirms a pushed update; returns the HTTP status.
        """
        if isinstance(update, int):
            found = [u for u in self.updates if u["update_id"] == update]
            if not found:
                raise LookupError(f"no pushed update {update}")
            update = found[0]
        if urlsplit(self.webhook_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"webhook {self.webhook_url!r} is not on 127.0.0.1; was setWebhook called?")
        secret = self.webhook_secret if isinstance(secret, _Stored) else secret
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with (
            ClientSession() as session,
            session.post(self.webhook_url, json=update, headers=headers) as r,
        ):
            status = r.status
        if 200 <= status < 300:
            self._queue = [u for u in self._queue if u["update_id"] != update["update_id"]]
        return status

    # --- scripted failures
    def fail(
        self,
        method: str,
        *,
        chat_id: ChatId = None,
        status: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` (-1: all) calls of `method` ("*": any) to `chat_id` (None: any) get this error."""
        error = ApiError(status, description, retry_after=retry_after, migrate_to_chat_id=migrate_to_chat_id)
        self._failures.append(_Failure(method, None if chat_id is None else str(chat_id), error, times))

    def fail_retry_after(self, method: str = "sendMessage", retry_after: int = 5, *, times: int = 1) -> None:
        """429 "Too Many Requests: retry after N" with parameters.retry_after."""
        text = f"Too Many Requests: retry after {retry_after}"
        self.fail(method, status=429, description=text, retry_after=retry_after, times=times)

    def fail_server_error(self, method: str = "sendMessage", *, times: int = 1) -> None:
        self.fail(method, status=500, description="Internal Server Error", times=times)

    def fail_chat_not_found(self, chat_id: str | int, *, times: int = -1) -> None:
        self.fail("*", chat_id=chat_id, status=400, description="Bad Request: chat not found", times=times)

    def fail_migrated(self, chat_id: str | int, to_chat_id: int, *, times: int = -1) -> None:
        """400 "group chat was upgraded to a supergroup chat" with parameters.migrate_to_chat_id."""
        text = "Bad Request: group chat was upgraded to a supergroup chat"
        self.fail(
            "*", chat_id=chat_id, status=400, description=text, migrate_to_chat_id=to_chat_id, times=times
        )

    def block(self, chat_id: str | int) -> None:
        """Every call naming this chat gets 403 "Forbidden: bot was blocked by the user" until `unblock`."""
        self._blocked.add(str(chat_id))

    def unblock(self, chat_id: str | int) -> None:
        self._blocked.discard(str(chat_id))

    def hold(self, method: str = "*", *, in_transit: bool = False, chats: Iterable[int | str] = ()) -> None:
        """Keep matching requests ("*": all; to `chats` only, if named) in flight, unanswered and
        unrecorded, until `release`.

        Held requests have reached Telegram: released, they take effect even if their sender is gone by
        then. `in_transit`: they are still on their way instead, and one whose sender died meanwhile
        never arrives (recorded with status 499, as nginx names a request its client closed)."""
        self._hold.add(method)
        self._hold_chats.update(str(chat) for chat in chats)
        if in_transit:
            self._in_transit.add(method)

    def release(self, n: int | None = None) -> int:
        """Let the `n` oldest held requests proceed; None: all of them, and end every hold."""
        if n is None:
            self._hold.clear()
            self._in_transit.clear()
            self._hold_chats.clear()
        count = len(self._held) if n is None else min(n, len(self._held))
        for _ in range(count):
            self._held.popleft()[2].set_result(None)
        self._changed()
        return count

    # --- HTTP
    def _changed(self) -> None:
        """Wake all waiting in `_until` (an Event pulse, not a Condition: push_* are synchronous)."""
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
        if predicate() or timeout <= 0:
            return predicate()
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._pulse.wait()
        except TimeoutError:
            return False
        return True

    def _matching(self, method: str, chat_id: ChatId) -> list[Call]:
        chat = None if chat_id is None else str(chat_id)
        return [c for c in self.calls if c.method == method and chat in (None, c.chat_id)]

    async def _handle(self, request: web.Request) -> web.Response:
        name = self._methods.get(request.match_info["method"].lower(), request.match_info["method"])
        params: JSON = {}
        at = self.clock()
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await tgo.read_params(request)
            if name.lower() not in self._methods:
                raise ApiError(404, "Not Found")
            chat = str(params.get("chat_id"))
            if (
                self._hold & {name, "*"}
                and not self._closing
                and (not self._hold_chats or chat in self._hold_chats)
            ):
                in_transit = bool(self._in_transit & {name, "*"})
                future = asyncio.get_running_loop().create_future()
                self._held.append((name, params, future))
                self._changed()
                await future
                at = self.clock()
                if in_transit and (request.transport is None or request.transport.is_closing()):
                    self.calls.append(Call(name, params, at, 499))
                    self._changed()
                    return web.Response(status=499)
            self._refuse(name, params, at)
            body: JSON = {"ok": True, "result": await getattr(self, f"_api_{name}")(params)}
            status = 200
        except ApiError as error:
            status, body = error.status, error.body()
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # malformed parameters
            status, body = 400, ApiError(400, f"Bad Request: {error!r}").body()
        result = body.get("result")
        result_id = result.get("message_id") if isinstance(result, dict) else None
        self.calls.append(Call(name, params, at, status, result_id))
        self._changed()
        return web.json_response(body, status=status)

    def _refuse(self, method: str, params: JSON, now: float) -> None:
        chat = Call(method, params, now, 0).chat_id
        for rule in self._failures:
            if rule.method in (method, "*") and rule.chat_id in (None, chat):
                rule.times -= rule.times > 0
                if rule.times == 0:
                    self._failures.remove(rule)
                raise rule.error
        if chat in self._blocked:
            raise ApiError(403, tgo.BLOCKED)
        if self.rate and method in SEND_METHODS and chat is not None and not self.rate.admit(chat, now):
            self.too_many += 1
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)

    # --- Bot API methods
    async def _api_getMe(self, params: JSON) -> JSON:
        return self.bot_user | {"can_join_groups": True, "can_read_all_group_messages": False}

    async def _api_getUpdates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, tgo.WEBHOOK_CONFLICT)
        offset, limit = int(params.get("offset") or 0), min(max(int(params.get("limit") or 100), 1), 100)
        if params.get("allowed_updates") is not None:
            self._allowed = list(params["allowed_updates"])
        if offset:  # confirms every update before `offset`; negative: keep only the last -offset
            self._queue = (
                [u for u in self._queue if u["update_id"] >= offset] if offset > 0 else self._queue[offset:]
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self.polling += 1
        self._changed()  # a newer getUpdates ends an older one with 409, as Telegram does
        try:
            ready = lambda: bool(self._deliverable()) or self._closing or generation != self._poll_generation  # noqa: E731
            await self._until(ready, float(params.get("timeout") or 0))
        finally:
            self.polling -= 1
            self._changed()
        if generation != self._poll_generation:
            raise ApiError(409, tgo.POLL_CONFLICT)
        return self._deliverable()[:limit]

    def _deliverable(self) -> list[JSON]:
        self._queue = [u for u in self._queue if tgo.is_allowed(u, self._allowed)]
        return self._queue

    async def _api_sendMessage(self, params: JSON) -> JSON:
        return self._bot_message(params, text=tgo.text_param(params), entities=params.get("entities"))

    async def _api_editMessageText(self, params: JSON) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        msg = self._messages[str(self._chat(params)["id"])].get(int(params.get("message_id") or 0))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text, markup = tgo.text_param(params), tgo.inline_markup(params)
        if msg.get("text") == text and msg.get("reply_markup") == markup:
            raise ApiError(400, tgo.NOT_MODIFIED)
        msg.pop("reply_markup", None)  # an edit without reply_markup removes the keyboard
        msg.update({"text": text, "edit_date": tgo.now()} | ({"reply_markup": markup} if markup else {}))
        return copy.deepcopy(msg)

    async def _api_editMessageCaption(self, params: JSON) -> JSON | bool:
        msg = self._messages[str(self._chat(params)["id"])].get(int(params.get("message_id") or 0))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if "photo" not in msg and "document" not in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        if msg.get("caption") == caption:
            raise ApiError(400, tgo.NOT_MODIFIED)
        msg.update({"caption": caption, "edit_date": tgo.now()})
        return copy.deepcopy(msg)

    def delete_message(self, chat_id: str | int, message_id: int) -> None:
        """The person deleted a bot message in their chat: edits of it fail from now on."""
        del self._messages[str(chat_id)][message_id]

    async def _api_answerCallbackQuery(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id"))
        if self._callbacks.get(query_id) is not False:  # unknown or already answered
            raise ApiError(400, tgo.QUERY_INVALID)
        self._callbacks[query_id] = True
        return True

    async def _api_sendDocument(self, params: JSON) -> JSON:
        return self._bot_message(
            params, document=self._file(params, "document"), caption=params.get("caption")
        )

    async def _api_sendPhoto(self, params: JSON) -> JSON:
        return self._bot_message(params, photo=self._file(params, "photo"), caption=params.get("caption"))

    async def _api_setMyCommands(self, params: JSON) -> bool:
        self.commands[tgo.commands_key(params)] = tgo.check_commands(params.get("commands"))
        return True

    async def _api_getMyCommands(self, params: JSON) -> list[JSON]:
        return self.commands.get(tgo.commands_key(params), [])

    async def _api_deleteMyCommands(self, params: JSON) -> bool:
        self.commands.pop(tgo.commands_key(params), None)
        return True

    async def _api_setWebhook(self, params: JSON) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("allowed_updates") is not None:
            self._allowed = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook_url, self.webhook_secret = str(params.get("url") or ""), secret
        return True

    async def _api_deleteWebhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook_url, self.webhook_secret = "", None
        return True

    async def _api_getWebhookInfo(self, params: JSON) -> JSON:
        info = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        return info | ({"allowed_updates": self._allowed} if self.webhook_url and self._allowed else {})

    def _chat(self, params: JSON) -> JSON:
        if params.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        name = str(params["chat_id"])
        if name in self.public_channels:  # "@name" of a public channel the bot administers
            return {"id": self.public_channels[name], "type": "channel", "username": name[1:]}
        try:
            chat_id = int(params["chat_id"])
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        return self._chats.setdefault(str(chat_id), tgo.chat(chat_id))

    def _new_message_id(self, chat: str) -> int:
        self._last_message_id[chat] += 1  # user and bot messages share one sequence per chat
        return self._last_message_id[chat]

    def _bot_message(self, params: JSON, **fields: Any) -> JSON:
        chat, markup = self._chat(params), tgo.inline_markup(params)
        replied = self._replied(str(chat["id"]), params)
        msg = tgo.message(
            self._new_message_id(str(chat["id"])),
            chat,
            self.bot_user,
            reply_markup=markup,
            reply_to_message=replied,
            **fields,
        )
        self._messages[str(chat["id"])][msg["message_id"]] = msg
        return copy.deepcopy(msg)

    def _replied(self, chat: str, params: JSON) -> JSON | None:
        """https://core.telegram.org/bots/api#replyparameters: the message answered, if it still exists;
        without it the send fails unless allow_sending_without_reply."""
        reply = params.get("reply_parameters")
        if reply is None:
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise ApiError(400, "Bad Request: invalid reply parameters specified")
        original = self._messages[chat].get(reply["message_id"])
        if original is None and not reply.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return copy.deepcopy(original) if original is not None else None

    def _file(self, params: JSON, kind: str) -> Any:
        """A new Document/PhotoSize list for an upload, or the stored one for a known file_id string."""
        value = params.get(kind)
        if isinstance(value, UploadedFile):
            file_id = f"fake-{kind}-{len(self._file_objects) + 1}"
            self.files[file_id] = value
            obj = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(value.content)}
            if kind == "photo":
                width, height = _photo_size(value.content)
                self._file_objects[file_id] = (kind, [obj | {"width": width, "height": height}])
            else:
                self._file_objects[file_id] = (
                    kind,
                    obj | {"file_name": value.filename, "mime_type": value.content_type},
                )
            value = file_id
        if value is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if str(value) not in self._file_objects:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        stored_kind, stored = self._file_objects[str(value)]
        if stored_kind != kind:
            raise ApiError(400, "Bad Request: type of file mismatch")
        return stored

    # --- control endpoints of the standalone mode
    async def _control_push(self, request: web.Request) -> web.Response:
        body, kind = await request.json(), request.match_info["kind"]
        options = {k: v for k, v in body.items() if k not in ("chat_id", "text", "data")}
        if kind == "message":
            return web.json_response(
                {"update_id": self.push_message(int(body["chat_id"]), body["text"], **options)}
            )
        if kind == "callback":
            return web.json_response(
                {"update_id": self.push_callback(int(body["chat_id"]), body["data"], **options)}
            )
        raise web.HTTPNotFound

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response(
            [asdict(call) for call in self.calls], dumps=lambda o: json.dumps(o, default=repr)
        )


def _photo_size(content: bytes) -> tuple[int, int]:
    """A photo as Telegram takes it (https://core.telegram.org/bots/api#sendphoto): at most 10 MB, width
    and height together at most 10000, their ratio at most 20. PNG's size is read from its header."""
    if len(content) > 10 * 1024 * 1024:
        raise ApiError(400, "Bad Request: file is too big")
    if content.startswith(b"\x89PNG\r\n\x1a\n") and content[12:16] == b"IHDR":
        width, height = struct.unpack(">II", content[16:24])
    elif content.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        width, height = 800, 600  # a JPEG's size sits in a later segment; tests' tiny stand-ins have none
    else:
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    if not width or not height or width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def _user(chat_id: int, user_id: int | None, first_name: str, language_code: str | None) -> JSON:
    default_id = chat_id if chat_id > 0 else 4242  # in a group the sender is somebody else
    return tgo.user(default_id if user_id is None else user_id, first_name, language_code=language_code)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with FakeTelegram(
        args.token, username=args.username, host=args.host, port=args.port, control=True
    ) as tg:
        print(
            f"Fake Telegram Bot API on {tg.url} (set TELEGRAM_API_URL={tg.url}, token {args.token})",
            flush=True,
        )
        example = '{"chat_id": 1, "text": "/start"}'
        print(
            f"curl -H 'Content-Type: application/json' -d '{example}' {tg.url}/_control/message", flush=True
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API for local development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--username", default="stadtfunk_test_bot")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
