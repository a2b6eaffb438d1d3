"""The webhooks under steady load: bodies acknowledged per CPU-second, and ack latency.

`python -m benchmarks.webhook serve --redis-url URL` runs the service's real aiohttp app with the WhatsApp
webhook (signature check, JSON check, XADD to the inbound stream, 200) and the Telegram webhook (secret
token check, JSON check, XADD, 200), and the inboxes' consumer groups taking the entries off again
(processing reduced to parsing: the conversation is not what is measured). It prints {"port"} and then,
on each line "mark" on stdin, {"cpu_s", "acks"} so far.

`python -m benchmarks.webhook load --url URL --rate R --seconds S [--messenger telegram]` is the second
process: it posts pre-signed bodies in Meta's shape (or updates in Telegram's, with the secret token) on a
fixed schedule (open loop, R per second) and prints {"sent", "ok", "p50_ms", "p99_ms", "rate"}; a late
answer delays nothing that follows.

`serve --bare` is the peer: a bare aiohttp handler that reads the body and answers 200, with no signature,
JSON or Redis, the floor any Python webhook on aiohttp stands on.

`measure()` runs both and joins their figures; `python -m benchmarks.webhook` prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.heap import settle_after_start
from bot.inbox.consumer import InboxConsumer
from bot.inbox.lanes import Job, Lanes
from bot.inbox.stream import InboxStream
from bot.web import WhatsAppHook, build_app

SECRET = "bench-app-secret-0123456789abcdef"  # noqa: S105 (a benchmark's own secret)
NUMBER_ID = "106540352242922"
TELEGRAM_SECRET = "bench-telegram-secret-0123456789abcdef"  # noqa: S105 (a benchmark's own secret)
STREAM = "bench:wa-inbox"
PATHS = {"whatsapp": "/webhooks/whatsapp", "telegram": "/webhooks/telegram"}


def body(n: int) -> bytes:
    """A text message notification as Meta sends it, ~700 bytes, each with its own wamid."""
    wa_id = f"49151{n % 1_000_000:08d}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "Erika Mustermann"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.HBgLNDkxNTEyMzQ1Njc4FQIAEhgUM0FCRTEy{n:012d}=",
                          "timestamp": "1795424400", "type": "text", "text": {"body": "ABO verkehr"}}],
        }}]}],
    }  # fmt: skip
    return json.dumps(payload).encode()


def telegram_body(n: int) -> bytes:
    """A private text message as Telegram posts it, ~350 bytes, each with its own update id."""
    chat = 100_000 + n % 1_000_000
    sender = {"id": chat, "is_bot": False, "first_name": "Erika", "language_code": "de"}
    chat_object = {"id": chat, "first_name": "Erika", "type": "private"}
    command = [{"offset": 0, "length": 4, "type": "bot_command"}]
    message = {"message_id": n + 1, "from": sender, "chat": chat_object, "date": 1795424400,
               "text": "/abo verkehr", "entities": command}  # fmt: skip
    return json.dumps({"update_id": 500_000_000 + n, "message": message}).encode()


def signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve_bare() -> None:
    acks = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal acks
        await request.read()
        acks += 1
        return web.Response()

    app = web.Application()
    for path in PATHS.values():
        app.router.add_post(path, handle)
    runner = await _listen(app)
    await _report_until_eof(lambda: acks)
    await runner.cleanup()


async def _listen(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    return runner


async def _report_until_eof(acks: Callable[[], int]) -> None:
    """On each "mark" line on stdin, print the CPU time and acknowledgements so far."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"mark":
            print(json.dumps({"cpu_s": _cpu_s(), "acks": acks()}), flush=True)


async def serve(redis_url: str, *, consume: bool = True, stream: str = STREAM) -> None:
    redis: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    acks = 0

    def split(_: str, raw: str) -> list[tuple[str, Job]]:
        json.loads(raw)
        return []

    inbox, telegram = InboxStream(redis, stream, "bench"), InboxStream(redis, f"{stream}:tg", "bench")
    lanes = Lanes()
    consumers = [InboxConsumer(each, split, lanes, what="bench") for each in (inbox, telegram)]
    for each in (inbox, telegram):
        await each.prepare()

    async def accept(raw: str) -> None:
        nonlocal acks
        await inbox.accept(raw)
        acks += 1

    async def accept_telegram(raw: str) -> None:
        nonlocal acks
        await telegram.accept(raw)
        acks += 1

    async def ready() -> bool:
        return True

    hook = WhatsAppHook(verify_token="unused-here", app_secret=SECRET, accept=accept)  # noqa: S106
    app = build_app(ready, telegram_accept=accept_telegram, telegram_secret=TELEGRAM_SECRET, whatsapp=hook)
    runner = await _listen(app)
    settle_after_start()  # as the service does once started
    stop = asyncio.Event()
    consuming = [asyncio.create_task(c.run(stop)) for c in consumers] if consume else []
    await _report_until_eof(lambda: acks)
    stop.set()
    await asyncio.gather(*consuming)
    await runner.cleanup()
    await redis.aclose()


def _requests(messenger: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Each body with the headers that make it genuine, prepared before the clock starts."""
    json_type = {"Content-Type": "application/json"}
    if messenger == "telegram":
        secret = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, **json_type}
        return [(telegram_body(n), secret) for n in range(count)]
    return [
        (raw, {"X-Hub-Signature-256": signature(raw), **json_type}) for raw in (body(n) for n in range(count))
    ]


async def load(url: str, rate: float, seconds: float, messenger: str = "whatsapp") -> dict[str, Any]:
    count = int(rate * seconds)
    bodies = _requests(messenger, count)
    # The generator's own collections would stamp every answer in flight late (a 3,000/s run's p99 was
    # 67 ms against a bare server, 2.7 ms without them): its pauses are not the server's latency. What it
    # allocates per request is freed by reference counting; the bodies are frozen out of any later pass.
    gc.collect()
    gc.freeze()
    gc.disable()
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(raw: bytes, headers: dict[str, str]) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                async with session.post(url, data=raw, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1

        tasks = []
        begin = time.perf_counter()
        for n, (raw, headers) in enumerate(bodies):
            due = begin + n / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(raw, headers)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    gc.enable()
    latencies.sort()

    def percentile(p: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)
            if latencies
            else None
        )

    return {
        "sent": count,
        "ok": len(latencies),
        "failed": failures,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "rate": round(len(latencies) / elapsed, 1),
    }


async def measure(
    redis_url: str,
    rate: float,
    seconds: float,
    *,
    consume: bool = True,
    stream: str = STREAM,
    bare: bool = False,
    messenger: str = "whatsapp",
) -> dict[str, Any]:
    """Server and load generator as two processes on loopback; figures of both, joined. `bare` measures
    the peer instead of stadtfunk's webhook."""
    python = sys.executable
    options = ["--stream", stream] + ([] if consume else ["--no-consumer"]) + (["--bare"] if bare else [])
    server = await asyncio.create_subprocess_exec(
        python, "-m", "benchmarks.webhook", "serve", "--redis-url", redis_url, *options,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdin, stdout = server.stdin, server.stdout
    if stdin is None or stdout is None:
        raise RuntimeError("the server process has no pipes")
    try:
        port = json.loads(await stdout.readline())["port"]

        async def mark() -> dict[str, Any]:
            stdin.write(b"mark\n")
            await stdin.drain()
            return dict(json.loads(await stdout.readline()))

        before = await mark()
        client = await asyncio.create_subprocess_exec(
            python, "-m", "benchmarks.webhook", "load", "--url", f"http://127.0.0.1:{port}{PATHS[messenger]}",
            "--rate", str(rate), "--seconds", str(seconds), "--messenger", messenger,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await client.communicate()
        after = await mark()
    finally:
        stdin.close()
        await server.wait()
    result = json.loads(out.decode().strip().splitlines()[-1])
    cpu_s = after["cpu_s"] - before["cpu_s"]
    acks = after["acks"] - before["acks"]
    return {
        **result,
        "consumer": consume,
        "messenger": messenger,
        "offered_rate": rate,
        "server_cpu_s": round(cpu_s, 3),
        "acks": acks,
        "acks_per_cpu_s": round(acks / cpu_s, 1) if cpu_s > 0 else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhook")
    commands = parser.add_subparsers(dest="command")
    serve_cmd = commands.add_parser("serve")
    serve_cmd.add_argument("--redis-url", required=True)
    serve_cmd.add_argument("--no-consumer", action="store_true", help="acknowledge only; others process")
    serve_cmd.add_argument("--stream", default=STREAM)
    serve_cmd.add_argument("--bare", action="store_true", help="the peer: a bare aiohttp handler")
    load_cmd = commands.add_parser("load")
    load_cmd.add_argument("--url", required=True)
    for command in (load_cmd, parser):
        command.add_argument("--rate", type=float, default=1000.0)
        command.add_argument("--seconds", type=float, default=20.0)
        command.add_argument("--messenger", choices=sorted(PATHS), default="whatsapp")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--bare", action="store_true", help="measure the peer, a bare aiohttp handler")
    options = parser.parse_args(argv)
    if options.command == "serve" and options.bare:
        asyncio.run(serve_bare())
    elif options.command == "serve":
        asyncio.run(serve(options.redis_url, consume=not options.no_consumer, stream=options.stream))
    elif options.command == "load":
        run_load = load(options.url, options.rate, options.seconds, options.messenger)
        print(json.dumps(asyncio.run(run_load)), flush=True)
    else:
        run = measure(
            options.redis_url, options.rate, options.seconds, bare=options.bare, messenger=options.messenger
        )
        print(json.dumps(asyncio.run(run)), flush=True)


if __name__ == "__main__":
    main()
