"""No web page can drive the sandbox: cross-site posts, DNS rebinding, missing tokens and foreign origins
each get 403 and change nothing; the page's own requests go through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.sandbox.channel import MAX_EVENTS, Outbox
from bot.sandbox.guard import TOKEN_HEADER, is_loopback
from bot.sandbox.store import MAX_STORED, ChatStore
from bot.service import Service
from bot.settings import ConfigurationError
from city.keys import Keys
from tests.bot.conftest import Sleeps
from tests.bot.sandbox.client import SandboxClient, sandbox_service
from tests.conftest import ManualClock

START = json.dumps({"chat": "r1", "text": "/start"})


async def post(
    client: SandboxClient, path: str, body: str, *, token: str | None, **headers: str
) -> tuple[int, str]:
    """A request as anyone may send it: a fresh session without the page's token unless given."""
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent[TOKEN_HEADER] = token
    async with (
        aiohttp.ClientSession() as session,
        session.post(client.base + path, data=body.encode(), headers=sent) as response,
    ):
        return response.status, await response.text()


async def get(client: SandboxClient, path: str, *, token: str | None, **headers: str) -> int:
    sent = dict(headers)
    if token is not None:
        sent[TOKEN_HEADER] = token
    async with aiohttp.ClientSession() as session, session.get(client.base + path, headers=sent) as response:
        return response.status


async def test_requests_from_elsewhere_get_403_and_change_nothing(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (service, client):
        assert service.sandbox is not None
        assert service.port is not None
        token, port = service.sandbox.guard.token, service.port
        refused = [
            # A cross-site form post: text/plain needs no CORS preflight, so a browser would send it.
            await post(client, "/sandbox/send", START, token=token, **{"Content-Type": "text/plain"}),
            await post(
                client,
                "/sandbox/send",
                START,
                token=token,
                **{"Content-Type": "text/plain"},
                Origin="http://evil.example",
            ),
            # DNS rebinding: a name of the attacker's that points at 127.0.0.1.
            await post(client, "/sandbox/send", START, token=token, Host=f"evil.example:{port}"),
            await post(client, "/sandbox/send", START, token=token, Host=f"127.0.0.1.evil.example:{port}"),
            await post(client, "/sandbox/send", START, token=token, Host=f"127.0.0.1:{port + 1}"),
            await post(client, "/sandbox/send", START, token=None),
            await post(client, "/sandbox/send", START, token="a-token-from-an-earlier-start-000"),
            await post(client, "/sandbox/send", START, token=token, Origin="http://evil.example"),
            await post(client, "/sandbox/send", START, token=token, Origin="null"),
            await post(client, "/sandbox/send", START, token=token, Origin=f"http://127.0.0.1:{port + 1}"),
            await post(client, "/sandbox/close", json.dumps({"chat": "r1"}), token=None),
        ]
        assert [status for status, _ in refused] == [403] * len(refused)
        assert "application/json" in refused[0][1]
        assert "?t=" in refused[5][1]
        # Reading the chats (with the staff's names and roles) needs the right host and the token too.
        assert await get(client, "/sandbox/events?after=0", token=None) == 403
        assert await get(client, "/sandbox/setup", token=token, Host=f"evil.example:{port}") == 403
        assert await get(client, "/", token=None, Host=f"evil.example:{port}") == 403
        assert await client.catch_up() == 0, "nothing refused may reach the conversation"
        assert service.sandbox.outbox.closed == set()

        # The page itself: its own origin (by address or by name), JSON, the token.
        own = await post(client, "/sandbox/send", START, token=token, Origin=f"http://127.0.0.1:{port}")
        by_name = await post(
            client,
            "/sandbox/send",
            START,
            token=token,
            Host=f"localhost:{port}",
            Origin=f"http://localhost:{port}",
        )
        assert (own[0], by_name[0]) == (200, 200)
        await client.catch_up()
        assert len(client.texts("r1")) == 2, "each went through the conversation: a consent prompt each"


async def test_the_page_may_not_be_framed_and_runs_only_its_own_script(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        async with client.session.get(client.base + "/") as response:
            assert response.status == 200
            headers = response.headers
        assert headers["X-Frame-Options"] == "DENY"
        policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["connect-src"] == "'self'"
        assert policy["script-src"].startswith("'sha256-")
        assert "unsafe" not in policy["script-src"]
        assert policy["style-src"].startswith("'sha256-")
        assert "unsafe" not in policy["style-src"]
        async with client.session.get(client.base + "/sandbox/setup") as response:
            assert response.headers["X-Frame-Options"] == "DENY"


async def test_the_sandbox_caps_its_residents(
    make_settings: Any, city_file: Path, clock: ManualClock, sleeps: Sleeps, redis: aioredis.Redis
) -> None:
    async with sandbox_service(make_settings, city_file, clock, sleeps) as (_, client):
        for number in range(1, 201):
            async with client.session.post(
                f"{client.base}/sandbox/close", json={"chat": f"r{number}"}
            ) as response:
                assert response.status == 200
        assert await client.send("r201", "/hilfe") == 429
        assert await client.send("r7", "/hilfe") == 200, "the residents already there go on"
        assert await client.send("staff:presse-redaktion", "/hilfe") == 200
        assert await client.send("staff:nobody", "/hilfe") == 400


async def test_the_outbox_keeps_a_bounded_number_of_messages(redis: aioredis.Redis, key_prefix: str) -> None:
    store = ChatStore(redis, Keys(key_prefix))
    outbox = Outbox(store)
    first = await outbox.post("r1", "the first")
    for number in range(MAX_EVENTS + 10):
        await outbox.post("r2", f"message {number}")
    assert len(outbox.events) == MAX_EVENTS
    assert not await outbox.edit("r1", first, "too late", ()), "a message that long gone is not kept"
    assert await redis.llen(Keys(key_prefix).sandbox_outbox()) == MAX_STORED


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1.evil.example", False),
        ("localhost.evil.example", False),
        ("0.0.0.0", False),  # noqa: S104
        ("192.168.1.10", False),
        ("", False),
    ],
)
def test_http_host_is_read_as_an_address(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_a_name_that_merely_starts_like_loopback_is_refused(make_settings: Any) -> None:
    service = Service(make_settings(telegram_bot_token=None, http_host="127.0.0.1.nip.io"))
    with pytest.raises(ConfigurationError, match="loopback only"):
        await service.start()
