"""The stand-in must be trustworthy: these tests pin its Bot API behaviour, over real HTTP."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, FormData, web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakes.telegram_api import JSON, FakeTelegram, RateRule, UploadedFile

TOKEN = "123:ABC"
ROOT = Path(__file__).resolve().parents[2]
KEYBOARD = {"inline_keyboard": [[{"text": "Ja", "callback_data": "topic:on"}]]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def api(http: ClientSession, tg: FakeTelegram, method: str, **params: Any) -> tuple[int, JSON]:
    """A call the way our lean client makes it: JSON body."""
    async with http.post(f"{tg.url}/bot{TOKEN}/{method}", json=params) as response:
        return response.status, await response.json()


async def result(http: ClientSession, tg: FakeTelegram, method: str, **params: Any) -> Any:
    status, body = await api(http, tg, method, **params)
    assert (status, body["ok"]) == (200, True), body
    return body["result"]


def kinds(updates: list[JSON]) -> list[str]:
    return [next(key for key in update if key != "update_id") for update in updates]


async def test_get_me_auth_unknown_method_and_recording(http: ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(TOKEN, username="stadtfunk_bot", clock=clock) as tg:
        me = await result(http, tg, "getMe")
        assert me["id"] == 123
        assert (me["is_bot"], me["username"]) == (True, "stadtfunk_bot")
        clock.now = 101.5
        async with http.post(f"{tg.url}/bot999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert await api(http, tg, "sendSticker") == (
            404,
            {"ok": False, "error_code": 404, "description": "Not Found"},
        )
        assert (await api(http, tg, "GETME"))[0] == 200  # method names are case-insensitive
        assert [(c.method, c.status, c.at) for c in tg.calls] == [
            ("getMe", 200, 100.0),
            ("getMe", 401, 101.5),
            ("sendSticker", 404, 101.5),
            ("getMe", 200, 101.5),
        ]


async def test_send_message_returns_valid_messages(tg: FakeTelegram, http: ClientSession) -> None:
    first = await result(http, tg, "sendMessage", chat_id=42, text="Hallo", reply_markup=KEYBOARD)
    second = await result(http, tg, "sendMessage", chat_id="42", text="Noch da?")
    other = await result(
        http, tg, "sendMessage", chat_id=-1001, text="Gruppe", reply_markup={"keyboard": [[{"text": "x"}]]}
    )
    assert first["chat"] == {"id": 42, "type": "private", "first_name": "Erika"}
    assert first["from"] == tg.bot_user
    assert (first["text"], first["reply_markup"], isinstance(first["date"], int)) == ("Hallo", KEYBOARD, True)
    assert [first["message_id"], second["message_id"], other["message_id"]] == [1, 2, 1]
    assert other["chat"]["type"] == "group"
    assert "reply_markup" not in other  # only inline keyboards are echoed
    assert [c.chat_id for c in tg.sent(42)] == ["42", "42"]
    assert [c.params["chat_id"] for c in tg.sent(42)] == [42, "42"]  # raw values are kept
    assert tg.texts(42) == ["Hallo", "Noch da?"]
    assert tg.texts() == ["Hallo", "Noch da?", "Gruppe"]
    assert [m["text"] for m in tg.messages(42)] == ["Hallo", "Noch da?"]


async def test_send_message_validation(tg: FakeTelegram, http: ClientSession) -> None:
    assert (await api(http, tg, "sendMessage", chat_id=1, text=" "))[1]["description"] == (
        "Bad Request: message text is empty"
    )
    assert (await api(http, tg, "sendMessage", chat_id=1, text="x" * 4097))[1]["description"] == (
        "Bad Request: message is too long"
    )
    assert (await api(http, tg, "sendMessage", text="x"))[1]["description"] == "Bad Request: chat_id is empty"
    long_data = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    status, body = await api(http, tg, "sendMessage", chat_id=1, text="x", reply_markup=long_data)
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    status, body = await api(http, tg, "getUpdates", offset="abc")
    assert (status, body["description"].startswith("Bad Request")) == (400, True)
    assert [c.status for c in tg.calls] == [400, 400, 400, 400, 400]
    assert tg.sent() == []


async def test_form_and_query_parameters_are_decoded(tg: FakeTelegram, http: ClientSession) -> None:
    form = {
        "chat_id": "42",
        "text": "123",
        "disable_notification": "true",
        "reply_markup": '{"inline_keyboard": [[{"text": "Ja", "callback_data": "topic:on"}]]}',
    }
    async with http.post(f"{tg.url}/bot{TOKEN}/sendMessage", data=form) as response:
        assert response.status == 200
    async with http.get(f"{tg.url}/bot{TOKEN}/sendMessage?chat_id=43&text=true") as response:
        assert response.status == 200
    first, second = tg.sent()
    assert first.params == {
        "chat_id": 42,
        "text": "123",
        "disable_notification": True,
        "reply_markup": KEYBOARD,
    }
    assert second.params == {"chat_id": 43, "text": "true"}  # string parameters stay strings


async def test_long_poll_returns_promptly_when_an_update_is_pushed(
    tg: FakeTelegram, http: ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    poll = asyncio.create_task(result(http, tg, "getUpdates", timeout=30))
    await tg.wait_for(lambda t: t.polling == 1)
    started = loop.time()
    update_id = tg.push_message(42, "/start")
    updates = await asyncio.wait_for(poll, 5)
    assert loop.time() - started < 1.0
    assert [u["update_id"] for u in updates] == [update_id]
    assert tg.polling == 0


async def test_long_poll_times_out_empty(tg: FakeTelegram, http: ClientSession) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await result(http, tg, "getUpdates", timeout=0.3) == []
    assert loop.time() - started >= 0.25
    assert await result(http, tg, "getUpdates", timeout=0) == []  # no timeout: answers at once


async def test_closing_answers_a_waiting_long_poll(http: ClientSession) -> None:
    async with FakeTelegram(TOKEN) as tg:
        poll = asyncio.create_task(result(http, tg, "getUpdates", timeout=30))
        await tg.wait_for(lambda t: t.polling == 1)
    assert await asyncio.wait_for(poll, 5) == []


async def test_offset_confirms_and_limit_caps(tg: FakeTelegram, http: ClientSession) -> None:
    ids = [tg.push_message(42, f"m{i}") for i in range(4)]
    assert ids == list(range(ids[0], ids[0] + 4))
    assert [u["update_id"] for u in await result(http, tg, "getUpdates", limit=2)] == ids[:2]
    assert [u["update_id"] for u in await result(http, tg, "getUpdates")] == ids  # nothing confirmed yet
    assert [u["update_id"] for u in await result(http, tg, "getUpdates", offset=ids[2])] == ids[2:]
    assert [u["update_id"] for u in tg.pending_updates] == ids[2:]
    assert [u["update_id"] for u in await result(http, tg, "getUpdates", offset=-1)] == ids[3:]
    assert await result(http, tg, "getUpdates", offset=ids[3] + 1) == []
    assert tg.pending_updates == []
    assert len(tg.updates) == 4  # the history keeps confirmed updates


async def test_allowed_updates_filter_and_persist(tg: FakeTelegram, http: ClientSession) -> None:
    tg.push_raw({"chat_member": {"chat": {"id": -5}}})  # opt-in kind: not delivered by default
    tg.push_raw({"edited_message": {"message_id": 1}})
    assert kinds(await result(http, tg, "getUpdates")) == ["edited_message"]
    tg.push_message(42, "hi")
    await result(http, tg, "sendMessage", chat_id=42, text="Knopf", reply_markup=KEYBOARD)
    tg.push_callback(42, "topic:on")
    updates = await result(http, tg, "getUpdates", allowed_updates=["callback_query"])
    assert kinds(updates) == ["callback_query"]
    tg.push_message(42, "again")
    assert kinds(await result(http, tg, "getUpdates")) == ["callback_query"]  # the setting persists


async def test_second_poller_ends_the_first_with_conflict(tg: FakeTelegram, http: ClientSession) -> None:
    first = asyncio.create_task(api(http, tg, "getUpdates", timeout=30))
    await tg.wait_for(lambda t: t.polling == 1)
    assert await result(http, tg, "getUpdates", timeout=0) == []
    status, body = await asyncio.wait_for(first, 5)
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")


async def test_push_message_builds_updates(tg: FakeTelegram, http: ClientSession) -> None:
    tg.push_message(42, "/start abc", language_code="en", first_name="Max")
    tg.push_message(-1009, "/help@stadtfunk_test_bot", chat_type="supergroup", user_id=7)
    tg.push_message(42, "kein Befehl", language_code=None)
    private, group, plain = (u["message"] for u in await result(http, tg, "getUpdates"))
    assert private["chat"] == {"id": 42, "type": "private", "first_name": "Max"}
    assert private["from"] == {"id": 42, "is_bot": False, "first_name": "Max", "language_code": "en"}
    assert private["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert group["chat"]["type"] == "supergroup"
    assert group["from"]["id"] == 7
    assert group["entities"][0]["length"] == len("/help@stadtfunk_test_bot")
    assert "entities" not in plain
    assert "language_code" not in plain["from"]
    assert plain["message_id"] == private["message_id"] + 1


async def test_callback_references_bot_message_and_is_answered_once(
    tg: FakeTelegram, http: ClientSession
) -> None:
    with pytest.raises(LookupError):
        tg.push_callback(42, "x")
    first = await result(http, tg, "sendMessage", chat_id=42, text="Eins", reply_markup=KEYBOARD)
    await result(http, tg, "sendMessage", chat_id=42, text="Zwei", reply_markup=KEYBOARD)
    tg.push_callback(42, "topic:on")
    tg.push_callback(42, "topic:off", message_id=first["message_id"], user_id=9)
    latest, older = (u["callback_query"] for u in await result(http, tg, "getUpdates"))
    assert (latest["message"]["text"], latest["data"], latest["from"]["id"]) == ("Zwei", "topic:on", 42)
    assert (older["message"]["text"], older["from"]["id"]) == ("Eins", 9)
    assert latest["chat_instance"]
    assert latest["id"] != older["id"]
    assert await result(http, tg, "answerCallbackQuery", callback_query_id=latest["id"], text="OK") is True
    status, body = await api(http, tg, "answerCallbackQuery", callback_query_id=latest["id"])
    assert (status, body["description"]) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )


async def test_edit_message_text(tg: FakeTelegram, http: ClientSession) -> None:
    sent = await result(http, tg, "sendMessage", chat_id=42, text="Alt", reply_markup=KEYBOARD)
    edited = await result(
        http,
        tg,
        "editMessageText",
        chat_id=42,
        message_id=sent["message_id"],
        text="Neu",
        reply_markup=KEYBOARD,
    )
    assert (edited["text"], edited["reply_markup"], "edit_date" in edited) == ("Neu", KEYBOARD, True)
    same = {"chat_id": 42, "message_id": sent["message_id"], "text": "Neu", "reply_markup": KEYBOARD}
    status, body = await api(http, tg, "editMessageText", **same)
    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified")
    without_keyboard = await result(
        http, tg, "editMessageText", chat_id=42, message_id=sent["message_id"], text="Neu"
    )
    assert "reply_markup" not in without_keyboard
    assert tg.messages(42)[0]["text"] == "Neu"
    status, body = await api(http, tg, "editMessageText", chat_id=42, message_id=99, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")


async def test_failure_scripting_counts(tg: FakeTelegram, http: ClientSession) -> None:
    tg.fail("sendMessage", status=500, description="Internal Server Error", times=2)
    statuses = [(await api(http, tg, "sendMessage", chat_id=1, text="x"))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]

    tg.fail_retry_after("sendMessage", retry_after=7)
    assert await api(http, tg, "sendMessage", chat_id=1, text="x") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    tg.fail_migrated(-500, -1000500)
    for _ in range(2):  # a migration is permanent
        status, body = await api(http, tg, "sendMessage", chat_id=-500, text="x")
        assert (status, body["parameters"]) == (400, {"migrate_to_chat_id": -1000500})
        assert body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert (await api(http, tg, "sendMessage", chat_id=-1000500, text="x"))[0] == 200

    tg.fail("sendMessage", chat_id=2, status=400, description="Bad Request: chat not found", times=-1)
    assert [(await api(http, tg, "sendMessage", chat_id=c, text="x"))[0] for c in (2, 3, "2")] == [
        400,
        200,
        400,
    ]
    tg.fail_server_error("getMe")
    assert (await api(http, tg, "getMe"))[0] == 500
    assert (await api(http, tg, "getMe"))[0] == 200
    assert [c.status for c in tg.calls if c.method == "sendMessage"] == [
        500,
        500,
        200,
        429,
        400,
        400,
        200,
        400,
        200,
        400,
    ]
    assert len(tg.sent()) == 3


async def test_block_and_unblock(tg: FakeTelegram, http: ClientSession) -> None:
    tg.block(42)
    assert await api(http, tg, "sendMessage", chat_id="42", text="x") == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    assert (await api(http, tg, "sendMessage", chat_id=43, text="x"))[0] == 200
    tg.unblock(42)
    assert (await api(http, tg, "sendMessage", chat_id=42, text="x"))[0] == 200
    assert [c.status for c in tg.calls] == [403, 200, 200]


async def test_hold_and_release(tg: FakeTelegram, http: ClientSession) -> None:
    tg.hold("sendMessage")
    sends = [asyncio.create_task(api(http, tg, "sendMessage", chat_id=i, text=f"t{i}")) for i in range(3)]
    await tg.wait_for(lambda t: len(t.held) == 3)
    assert await result(http, tg, "getMe")  # other methods pass
    assert tg.sent() == []
    assert sorted(params["chat_id"] for _, params in tg.held) == [0, 1, 2]
    assert tg.release(1) == 1
    await tg.wait_for_calls("sendMessage")
    assert (len(tg.held), len(tg.sent())) == (2, 1)
    assert tg.release() == 2
    assert [status for status, _ in await asyncio.gather(*sends)] == [200, 200, 200]
    assert (await api(http, tg, "sendMessage", chat_id=9, text="x"))[0] == 200  # hold has ended
    assert len(tg.sent()) == 4


async def test_held_requests_can_still_fail(tg: FakeTelegram, http: ClientSession) -> None:
    tg.hold()
    send = asyncio.create_task(api(http, tg, "sendMessage", chat_id=1, text="x"))
    await tg.wait_for(lambda t: len(t.held) == 1)
    tg.fail_server_error()
    tg.release()
    assert (await send)[0] == 500


async def test_wait_for_times_out_with_a_dump(tg: FakeTelegram, http: ClientSession) -> None:
    await result(http, tg, "sendMessage", chat_id=42, text="schon da")
    with pytest.raises(AssertionError, match=r"(?s)within 0.2 s.*200 sendMessage .*schon da"):
        await tg.wait_for(lambda t: len(t.sent()) == 2, timeout=0.2)


async def test_wait_for_calls_wakes_on_each_call(tg: FakeTelegram, http: ClientSession) -> None:
    async def send_three() -> None:
        for i in range(3):
            await api(http, tg, "sendMessage", chat_id=5, text=str(i))

    task = asyncio.create_task(send_three())
    calls = await tg.wait_for_calls("sendMessage", chat_id="5", count=3, timeout=5)
    assert [c.params["text"] for c in calls] == ["0", "1", "2"]
    await task


async def test_multipart_document_and_photo(tg: FakeTelegram, http: ClientSession) -> None:
    form = FormData()
    form.add_field("chat_id", "42")
    form.add_field("caption", "Bericht")
    form.add_field("document", b"a;b\n1;2\n", filename="bericht.csv", content_type="text/csv")
    async with http.post(f"{tg.url}/bot{TOKEN}/sendDocument", data=form) as response:
        message = (await response.json())["result"]
    document = message["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "bericht.csv",
        "text/csv",
        8,
    )
    assert message["caption"] == "Bericht"
    (call,) = tg.sent(42, "sendDocument")
    assert call.params["document"] == UploadedFile("bericht.csv", b"a;b\n1;2\n", "text/csv")
    assert tg.files[document["file_id"]].content == b"a;b\n1;2\n"

    photo_form = FormData()
    photo_form.add_field("chat_id", "42")
    photo_form.add_field("photo", "attach://pic")
    photo_form.add_field("pic", b"\x89PNG...", filename="karte.png", content_type="image/png")
    async with http.post(f"{tg.url}/bot{TOKEN}/sendPhoto", data=photo_form) as response:
        photo = (await response.json())["result"]["photo"]
    assert photo[0]["file_id"] not in (document["file_id"], "")
    assert tg.files[photo[0]["file_id"]].filename == "karte.png"
    again = await result(http, tg, "sendPhoto", chat_id=43, photo=photo[0]["file_id"])
    assert again["photo"] == photo
    status, body = await api(http, tg, "sendPhoto", chat_id=43, photo="unknown-id")
    assert (status, body["description"]) == (400, "Bad Request: wrong file identifier/HTTP URL specified")
    assert (await api(http, tg, "sendPhoto", chat_id=43, photo=document["file_id"]))[0] == 400


async def test_commands_per_scope_and_language(tg: FakeTelegram, http: ClientSession) -> None:
    start = [{"command": "start", "description": "Anmelden"}]
    private = {"type": "all_private_chats"}
    assert await result(http, tg, "setMyCommands", commands=start) is True
    stop = [{"command": "stop", "description": "Stop"}]
    assert await result(http, tg, "setMyCommands", commands=stop, scope=private, language_code="en")
    assert tg.commands_for() == start
    assert tg.commands_for(private, "en") == [{"command": "stop", "description": "Stop"}]
    assert tg.commands_for(private) is None
    assert await result(http, tg, "getMyCommands", scope=private, language_code="en") == tg.commands_for(
        private, "en"
    )
    assert await result(http, tg, "getMyCommands", language_code="fr") == []
    assert await result(http, tg, "deleteMyCommands") is True
    assert tg.commands_for() is None
    status, body = await api(http, tg, "setMyCommands", commands=[{"command": "Start", "description": "x"}])
    assert (status, body["description"]) == (400, "Bad Request: BOT_COMMAND_INVALID")


async def test_webhook(tg: FakeTelegram, http: ClientSession) -> None:
    received: list[tuple[str | None, JSON]] = []

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(status=200 if secret == "s3cr3t" else 403)

    app = web.Application()
    app.router.add_post("/telegram", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram"
        update_id = tg.push_message(42, "vorher")
        assert await result(http, tg, "setWebhook", url=url, secret_token="s3cr3t") is True
        assert (tg.webhook_url, tg.webhook_secret) == (url, "s3cr3t")
        info = await result(http, tg, "getWebhookInfo")
        assert (info["url"], info["pending_update_count"]) == (url, 1)
        status, body = await api(http, tg, "getUpdates")
        assert (status, body["description"].split(":")[0]) == (409, "Conflict")

        assert await tg.post_to_webhook(update_id, secret="falsch") == 403
        assert len(tg.pending_updates) == 1  # not confirmed
        assert await tg.post_to_webhook(update_id) == 200
        assert tg.pending_updates == []
        assert await tg.post_to_webhook({"update_id": 1, "poll": {"id": "p"}}, secret=None) == 403
        assert [(secret, body["update_id"]) for secret, body in received] == [
            ("falsch", update_id),
            ("s3cr3t", update_id),
            (None, 1),
        ]
        assert received[1][1]["message"]["text"] == "vorher"

        bad = await api(http, tg, "setWebhook", url=url, secret_token="nicht erlaubt!")
        assert bad[0] == 400
        assert await result(http, tg, "deleteWebhook", drop_pending_updates=True) is True
        assert (await result(http, tg, "getWebhookInfo"))["url"] == ""
        assert await result(http, tg, "getUpdates") == []
        with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
            await tg.post_to_webhook(update_id)
        await result(http, tg, "setWebhook", url="https://example.org/hook")
        with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
            await tg.post_to_webhook(update_id)
    finally:
        await runner.cleanup()


async def test_rate_limit_over_the_injected_clock(http: ClientSession) -> None:
    clock = Clock()
    rule = RateRule(global_per_s=3, per_chat_per_s=1, per_group_per_min=2)
    async with FakeTelegram(TOKEN, clock=clock, rate_limit=rule) as tg:

        async def send(chat: int) -> int:
            return (await api(http, tg, "sendMessage", chat_id=chat, text="x"))[0]

        assert [await send(1), await send(1)] == [200, 429]  # per chat: 1 per second
        status, body = await api(http, tg, "sendMessage", chat_id=1, text="x")
        assert (status, body["parameters"]) == (429, {"retry_after": 1})
        assert [await send(2), await send(3), await send(4)] == [200, 200, 429]  # global: 3 per second
        clock.now = 100.999
        assert await send(1) == 429  # the window slides: still within 1 s of the first send
        clock.now = 101.0
        assert [await send(1), await send(4)] == [200, 200]
        assert (await api(http, tg, "getMe"))[0] == 200  # only sends count
        assert [await send(-7), await send(-7)] == [200, 429]
        clock.now = 102.0
        assert [await send(-7), await send(-8)] == [200, 200]
        clock.now = 103.0
        assert await send(-7) == 429  # groups: 2 per minute
        clock.now = 161.0
        assert await send(-7) == 200
        assert tg.too_many == 6


async def test_rate_limit_burst_widens_the_window(http: ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(TOKEN, clock=clock, rate_limit=RateRule(per_chat_per_s=1, burst=3)) as tg:
        statuses = [(await api(http, tg, "sendMessage", chat_id=1, text="x"))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        clock.now += 3
        assert (await api(http, tg, "sendMessage", chat_id=1, text="x"))[0] == 200


async def test_python_telegram_bot_round_trip(tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with Bot(TOKEN, base_url=f"{tg.url}/bot") as bot:
        assert bot.username == "stadtfunk_test_bot"  # initialize() called getMe
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="topic:on")]])
        sent = await bot.send_message(42, "Hallo", reply_markup=keyboard)
        assert (sent.text, sent.chat.id, sent.from_user and sent.from_user.is_bot) == ("Hallo", 42, True)
        assert sent.reply_markup == keyboard
        (call,) = tg.sent(42)
        assert call.params["chat_id"] == 42
        assert call.params["reply_markup"] == {
            "inline_keyboard": [[{"text": "Ja", "callback_data": "topic:on"}]]
        }

        tg.push_message(42, "/start")
        tg.push_callback(42, "topic:on")
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message is not None
        assert updates[0].message.text == "/start"
        query = updates[1].callback_query
        assert query is not None
        assert query.message is not None
        assert (query.data, query.message.message_id) == ("topic:on", sent.message_id)
        assert await bot.answer_callback_query(query.id, text="Gespeichert")
        assert (await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)) == ()

        edited = await bot.edit_message_text("Erledigt", chat_id=42, message_id=sent.message_id)
        assert not isinstance(edited, bool)
        assert (edited.text, edited.reply_markup) == ("Erledigt", None)

        scope = BotCommandScopeAllPrivateChats()
        assert await bot.set_my_commands([BotCommand("start", "Anmelden")], scope=scope, language_code="de")
        assert tg.commands_for({"type": "all_private_chats"}, "de") == [
            {"command": "start", "description": "Anmelden"}
        ]
        assert await bot.get_my_commands(scope=scope, language_code="de") == (
            BotCommand("start", "Anmelden"),
        )
        assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cr3t")
        assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
        assert await bot.delete_webhook()

        tg.block(7)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(7, "x")
        tg.fail_retry_after("sendMessage", retry_after=5)
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(42, "x")
        assert retry.value.retry_after == timedelta(seconds=5)
        tg.fail_migrated(-500, -1000500)
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(-500, "x")
        assert migrated.value.new_chat_id == -1000500
        tg.fail_chat_not_found(99)
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(99, "x")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query.id)
        tg.fail_server_error()
        with pytest.raises(NetworkError):
            await bot.send_message(42, "x")
    assert {c.method for c in tg.calls} >= {"getMe", "sendMessage", "getUpdates", "setMyCommands"}


async def test_python_telegram_bot_uploads_and_bad_token(tg: FakeTelegram) -> None:
    async with Bot(TOKEN, base_url=f"{tg.url}/bot") as bot:
        message = await bot.send_document(42, document=b"a;b\n", filename="liste.csv", caption="Liste")
        assert message.document is not None
        assert (message.document.file_name, message.caption) == ("liste.csv", "Liste")
        (call,) = tg.sent(42, "sendDocument")
        assert isinstance(call.params["document"], UploadedFile)
        assert (call.params["document"].filename, call.params["document"].content) == ("liste.csv", b"a;b\n")
        assert call.params["chat_id"] == 42
        again = await bot.send_document(43, document=message.document.file_id)
        assert again.document == message.document
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=f"{tg.url}/bot"):
            pass


async def test_control_endpoints(http: ClientSession) -> None:
    async with FakeTelegram(TOKEN, control=True) as tg:
        async with http.post(
            f"{tg.url}/_control/message", json={"chat_id": 42, "text": "/start"}
        ) as response:
            update_id = (await response.json())["update_id"]
        await result(http, tg, "sendMessage", chat_id=42, text="Hallo", reply_markup=KEYBOARD)
        async with http.post(
            f"{tg.url}/_control/callback", json={"chat_id": 42, "data": "topic:on"}
        ) as response:
            assert response.status == 200
        updates = await result(http, tg, "getUpdates")
        assert updates[0]["update_id"] == update_id
        assert updates[1]["callback_query"]["data"] == "topic:on"
        async with http.get(f"{tg.url}/_control/calls") as response:
            calls = await response.json()
        assert [(c["method"], c["status"]) for c in calls] == [("sendMessage", 200), ("getUpdates", 200)]
        assert calls[0]["params"]["text"] == "Hallo"


async def test_standalone_mode(http: ClientSession) -> None:
    command = [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0", "--token", "5:XY"]
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        async with http.get(f"{match[0]}/bot5:XY/getMe") as response:
            assert (await response.json())["result"]["id"] == 5
        async with http.post(
            f"{match[0]}/_control/message", json={"chat_id": 1, "text": "/start"}
        ) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
