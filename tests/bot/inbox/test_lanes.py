"""Per-chat lanes on their own: order within a chat, chats side by side up to the slots, answers apart
from handling, and a failing handling tried again, then given up."""

from __future__ import annotations

import asyncio

from bot.inbox.lanes import MAX_ATTEMPTS, Job, Lanes, Send


class Gate:
    """Something a job waits for until the test opens it."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    def open(self) -> None:
        self.opened.set()


def job(log: list[str], name: str, *, until: Gate | None = None, send_until: Gate | None = None) -> Job:
    async def handle() -> Send | None:
        log.append(f"handle {name}")
        if until is not None:
            await until.opened.wait()

        async def send() -> None:
            if send_until is not None:
                await send_until.opened.wait()
            log.append(f"send {name}")

        return send

    return handle


async def test_one_chat_in_order_while_its_answer_waits_and_other_chats_go_on() -> None:
    log: list[str] = []
    lanes = Lanes(slots=4)
    stuck = Gate()
    first = lanes.submit("a", job(log, "a1", send_until=stuck))
    second = lanes.submit("a", job(log, "a2"))
    other = lanes.submit("b", job(log, "b1"))
    await other
    await asyncio.sleep(0)
    # a2 is handled while a1's answer waits, but its own answer waits behind a1's.
    assert set(log) == {"handle a1", "handle a2", "handle b1", "send b1"}
    assert log.index("handle a1") < log.index("handle a2")
    assert not first.done()
    assert not second.done()
    stuck.open()
    await second
    assert log.index("send a1") < log.index("send a2")
    assert lanes.open == 0


async def test_no_more_chats_are_handled_at_once_than_there_are_slots() -> None:
    log: list[str] = []
    lanes = Lanes(slots=2)
    gate = Gate()
    done = [lanes.submit(chat, job(log, chat, until=gate)) for chat in ("a", "b", "c")]
    for _ in range(10):
        await asyncio.sleep(0)
    assert log == ["handle a", "handle b"]
    gate.open()
    await asyncio.gather(*done)
    assert sorted(e for e in log if e.startswith("send")) == ["send a", "send b", "send c"]


async def test_a_failing_handling_is_tried_again_then_given_up_and_the_chat_goes_on() -> None:
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    attempts = 0

    async def failing() -> Send | None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("Redis away")

    log: list[str] = []
    lanes = Lanes(sleep=pause, retry_pause_s=0.5)
    dropped = lanes.submit("a", failing)
    after = lanes.submit("a", job(log, "a2"))
    await asyncio.gather(dropped, after)
    assert attempts == MAX_ATTEMPTS
    assert pauses == [0.5] * (MAX_ATTEMPTS - 1)
    assert log == ["handle a2", "send a2"]


async def test_the_reader_is_held_back_while_too_many_jobs_are_open() -> None:
    lanes = Lanes()
    gate = Gate()
    log: list[str] = []
    for chat in ("a", "b", "c"):
        lanes.submit(chat, job(log, chat, until=gate))
    calm = asyncio.create_task(lanes.calm(below=3))
    await asyncio.sleep(0)
    assert not calm.done()
    gate.open()
    await asyncio.wait_for(calm, timeout=5)
