"""The benchmark stand-in's rules and counters, over real HTTP; its clock is the test's, so nothing sleeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from telegram import Bot
from telegram.request import HTTPXRequest

from benchmarks.standin import DEFAULT_TOKEN, RULES, Rule, achieved_rate, build_app

TOKEN = DEFAULT_TOKEN
TOO_MANY = {
    "ok": False,
    "error_code": 429,
    "description": "Too Many Requests: retry after 1",
    "parameters": {"retry_after": 1},
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def client_for(rule: Rule, clock: Clock) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(
        TestServer(build_app(rule, clock, token=TOKEN, updates_hold_s=0))
    )
    await client.start_server()
    return client


@pytest.fixture
async def tg(clock: Clock) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(RULES["tg"], clock)
    yield client
    await client.close()


@pytest.fixture
async def wa(clock: Clock) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(RULES["wa"], clock)
    yield client
    await client.close()


@pytest.fixture
async def free(clock: Clock) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(RULES["none"], clock)
    yield client
    await client.close()


async def send(client: TestClient[Any, Any], chat: int | str, text: str = "Hallo") -> tuple[int, Any]:
    async with client.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": chat, "text": text}) as response:
        return response.status, await response.json()


async def send_wa(client: TestClient[Any, Any], to: str) -> tuple[int, Any]:
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Hallo"}}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with client.post("/v21.0/123/messages", json=body, headers=headers) as response:
        return response.status, await response.json()


async def stats(client: TestClient[Any, Any]) -> Any:
    async with client.get("/_stats") as response:
        return await response.json()


async def test_telegram_window_admits_the_whole_burst_and_refuses_until_a_place_frees(
    tg: TestClient[Any, Any], clock: Clock
) -> None:
    for chat in range(30):
        assert (await send(tg, chat))[0] == 200
    assert await send(tg, 30) == (429, TOO_MANY)
    clock.now += 0.999
    assert await send(tg, 31) == (429, TOO_MANY)
    clock.now = 101.0  # the first 30 were at 100.0: at exactly 101.0 their places are free again
    for chat in range(31, 61):
        assert (await send(tg, chat))[0] == 200
    assert (await send(tg, 61))[0] == 429
    counted = await stats(tg)
    assert (counted["ok"], counted["too_many"], counted["max_in_window"]) == (60, 3, 30)
    assert counted["refused_by"] == {"global": 3, "recipient": 0}


async def test_edits_fill_the_global_window_as_deliveries_do(tg: TestClient[Any, Any], clock: Clock) -> None:
    for chat in range(29):
        assert (await send(tg, chat))[0] == 200
    assert await edit(tg, 500) == 200
    assert await edit(tg, 501) == 429
    assert await send(tg, 29) == (429, TOO_MANY)
    counted = await stats(tg)
    # An edit is no delivery of a broadcast: 29 delivered, two refusals, a full window of 30.
    assert (counted["ok"], counted["too_many"], counted["max_in_window"]) == (29, 2, 30)


async def test_telegram_chat_gets_one_message_per_sliding_second(
    tg: TestClient[Any, Any], clock: Clock
) -> None:
    assert (await send(tg, 7))[0] == 200
    clock.now += 0.5
    assert await send(tg, 7) == (429, TOO_MANY)
    assert (await send(tg, 8))[0] == 200  # the global window has room: only chat 7 is refused
    clock.now += 0.5
    assert (await send(tg, 7))[0] == 200
    counted = await stats(tg)
    assert counted["refused_by"] == {"global": 0, "recipient": 1}


async def test_a_refused_send_takes_no_place(tg: TestClient[Any, Any], clock: Clock) -> None:
    for chat in range(30):
        await send(tg, chat)
    clock.now += 0.5
    for chat in range(30, 40):
        assert (await send(tg, chat))[0] == 429
    clock.now = 101.0
    assert sum([(await send(tg, chat))[0] == 200 for chat in range(40, 71)]) == 30


async def test_whatsapp_throughput_and_pair_rate(wa: TestClient[Any, Any], clock: Clock) -> None:
    for n in range(80):
        assert (await send_wa(wa, f"49151{n:06d}"))[0] == 200
    status, body = await send_wa(wa, "49152000000")
    assert (status, body["error"]["code"]) == (400, 130429)
    assert body["error"]["error_data"]["messaging_product"] == "whatsapp"
    clock.now += 1.0
    status, body = await send_wa(wa, "49151000000")
    assert (status, body["error"]["code"]) == (400, 131056)  # one per 6 s to one person
    clock.now = 105.999
    assert (await send_wa(wa, "49151000001"))[1]["error"]["code"] == 131056
    clock.now = 106.0
    status, body = await send_wa(wa, "49151000001")
    assert status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "49151000001", "wa_id": "49151000001"}]
    assert body["messages"][0]["id"].startswith("wamid.")


async def test_duplicates_are_counted_per_chat(free: TestClient[Any, Any], clock: Clock) -> None:
    for chat in (1, 2, 3, 2, 3, 3):
        assert (await send(free, chat))[0] == 200
    await send(free, "3")  # the same chat whether the id came as a number or a string
    counted = await stats(free)
    assert counted["ok"] == 7
    assert (counted["chats"], counted["max_per_chat"], counted["chats_more_than_once"]) == (3, 4, 2)
    assert counted["too_many"] == 0
    assert counted["max_in_window"] is None
    async with free.post("/_reset") as response:
        assert response.status == 200
    assert (await stats(free))["ok"] == 0


async def test_per_second_histogram_and_text_times(free: TestClient[Any, Any], clock: Clock) -> None:
    await send(free, 1, "Digest")
    clock.now += 0.5
    await send(free, 2, "Digest")
    clock.now += 0.75
    await send(free, 1, "ALARM Hochwasser")
    clock.now += 1.0
    await send(free, 3, "Digest")
    counted = await stats(free)
    assert counted["per_second"] == [2, 1, 1]
    assert counted["achieved_rate"] == 1.5
    assert counted["by_text"][1] == {
        "text": "ALARM Hochwasser",
        "count": 1,
        "first_ts": 101.25,
        "last_ts": 101.25,
    }


@pytest.mark.parametrize(
    ("per_second", "rate"),
    [([], None), ([30], None), ([30, 12], 30.0), ([30, 30, 30, 5], 30.0), ([10, 30, 30, 29], 70 / 3)],
)
def test_achieved_rate_leaves_out_the_last_partial_second(per_second: list[int], rate: float | None) -> None:
    assert achieved_rate(per_second) == rate


async def test_form_and_multipart_bodies(free: TestClient[Any, Any]) -> None:
    form = {"chat_id": "42", "text": "Hallo", "reply_markup": json.dumps({"inline_keyboard": []})}
    async with free.post(f"/bot{TOKEN}/sendMessage", data=form) as response:
        body = await response.json()
    assert body["result"]["chat"] == {"id": 42, "type": "private", "first_name": "Bench"}
    assert body["result"]["text"] == "Hallo"
    multipart = FormData()
    multipart.add_field("chat_id", "43")
    multipart.add_field("caption", "Plan")
    multipart.add_field("photo", b"\x89PNG", filename="plan.png", content_type="image/png")
    async with free.post(f"/bot{TOKEN}/sendPhoto", data=multipart) as response:
        body = await response.json()
    assert (body["result"]["chat"]["id"], body["result"]["caption"]) == (43, "Plan")
    assert (await stats(free))["chats"] == 2


async def test_other_methods_and_refusals(free: TestClient[Any, Any]) -> None:
    async with free.get(f"/bot{TOKEN}/getMe") as response:
        me = (await response.json())["result"]
    assert (me["id"], me["is_bot"]) == (123456, True)
    async with free.post(f"/bot{TOKEN}/getUpdates", json={"timeout": 30}) as response:
        assert await response.json() == {"ok": True, "result": []}
    async with free.post(f"/bot{TOKEN}/answerCallbackQuery", json={"callback_query_id": "1"}) as response:
        assert await response.json() == {"ok": True, "result": True}
    async with free.post("/bot1:wrong/sendMessage", json={"chat_id": 1, "text": "x"}) as response:
        assert response.status == 401
    assert (await send(free, 1, ""))[0] == 400
    async with free.post("/v21.0/123/messages", json={"to": "49"}) as response:
        assert (response.status, (await response.json())["error"]["code"]) == (401, 190)
    assert (await stats(free))["requests"] == 0


async def test_python_telegram_bot_parses_the_answers(free: TestClient[Any, Any]) -> None:
    """PTB sends form bodies with JSON-encoded values and parses the Message it gets back."""
    bot = Bot(TOKEN, base_url=f"{free.make_url('/bot')}", request=HTTPXRequest(connection_pool_size=2))
    async with bot:
        message = await bot.send_message(chat_id=77, text="Hallo")
        assert (message.chat.id, message.text) == (77, "Hallo")
    counted = await stats(free)
    assert (counted["ok"], counted["chats"]) == (1, 1)


async def test_the_log_holds_deliveries_refusals_and_edits(tg: TestClient[Any, Any], clock: Clock) -> None:
    assert (await send(tg, 7))[0] == 200
    assert (await send(tg, 7))[0] == 429
    clock.now += 0.25
    # An edit takes a place in the chat's window (and the global one) as a delivery does.
    assert await edit(tg, 7) == 429
    clock.now += 1.0
    assert await edit(tg, 7) == 200
    async with tg.get("/_log") as response:
        assert await response.json() == [
            [100.0, "7", "s"], [100.0, "7", "r"], [100.25, "7", "r"], [101.25, "7", "e"]
        ]  # fmt: skip
    async with tg.post("/_reset"), tg.get("/_log") as response:
        assert await response.json() == []


async def edit(tg: TestClient[Any, Any], chat: int) -> int:
    body = {"chat_id": chat, "message_id": 1, "text": "b"}
    async with tg.post(f"/bot{TOKEN}/editMessageText", json=body) as response:
        return response.status
