"""A broadcast's picture lives in Redis with the broadcast, shared by content, and ends with the last
broadcast that shows it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broadcasts.images import image_name
from broadcasts.model import Broadcast, State
from broadcasts.records import DeliveryRecords
from city.values import Channel
from tests.broadcasts.conftest import CITY, Rig

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def nothing_running(_: str) -> None:
    raise AssertionError("nothing is running")


async def test_a_shared_picture_ends_with_the_last_broadcast_that_shows_it(rig: Rig) -> None:
    await rig.subscribe([1001])
    first = await rig.broadcast(image=PNG)
    await rig.send(first.id)
    await rig.drain()
    rig.clock.advance(days=20)
    second = await rig.broadcast(text="Die B7 ist wieder frei.", image=PNG)  # the same logo
    await rig.send(second.id)
    await rig.drain()
    name = image_name(PNG)
    assert first.image == second.image == name is not None
    records = DeliveryRecords(rig.redis, rig.keys, rig.store)
    days = CITY.retention.delivery_records_days

    await records.expire(rig.clock() + timedelta(days=days - 19), days, nothing_running)
    assert await rig.store.images.read(name) == PNG, "the second broadcast still shows it"
    await records.expire(rig.clock() + timedelta(days=days + 1), days, nothing_running)
    assert await rig.store.images.read(name) is None
    assert not await rig.redis.exists(rig.keys.image(name), rig.keys.image_users(name))


async def test_a_picture_that_is_gone_leaves_the_text_and_the_broadcast_finishes(rig: Rig) -> None:
    await rig.subscribe([1001, 1002])
    broadcast = await rig.broadcast(image=PNG)
    assert broadcast.image is not None
    await rig.store.images.release(broadcast.image, broadcast.id)  # as when its records had ended
    await rig.send(broadcast.id)
    await rig.drain()
    assert rig.tg.sent(None, "sendPhoto") == []
    assert rig.delivered(1001) == rig.delivered(1002) == ["📣 Verkehr\n\nSperrung der B7"]
    progress = await rig.engine.progress(broadcast.id)
    assert progress.state is State.DONE
    assert progress.channels[Channel.TELEGRAM].sent == 2


@pytest.mark.parametrize(
    "data", [b"GIF89a" + b"\x00" * 16, b"", b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024)]
)
async def test_only_a_jpeg_or_png_of_at_most_5_mb_is_a_picture(rig: Rig, data: bytes) -> None:
    draft = Broadcast(
        id="", topics=("verkehr",), text_de="x", author="presse-redaktion", created_at=rig.clock()
    )
    with pytest.raises(ValueError, match="JPEG or PNG"):
        await rig.store.create(draft, image=data)
    assert await rig.store.recent(10) == [], "nothing is stored"
