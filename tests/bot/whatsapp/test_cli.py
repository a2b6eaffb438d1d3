"""`stadtfunk broadcast` on a WhatsApp-only deployment: the command plans the WhatsApp audience too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.service import Service
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import edit_city
from tests.bot.whatsapp.conftest import ACCESS_TOKEN, APP_SECRET, NUMBER_ID, RESIDENT, VERIFY_TOKEN, Write
from tests.bot.whatsapp.test_conversation import agree
from tests.fakes.graph_api import FakeGraph


async def test_a_broadcast_from_the_terminal_reaches_whatsapp_residents(
    write: Write, wa_service: Service, graph: FakeGraph, city_file: Path, tmp_path: Path
) -> None:
    # The command runs on the wall clock: without quiet hours, news goes out whatever the hour.
    edit_city(city_file, 'start: "22:00"\n  end: "07:00"', 'start: "00:00"\n  end: "00:00"')
    await agree(write)
    await write("ABO sternwarte")
    settings = wa_service.settings
    result = await asyncio.to_thread(
        stadtfunk,
        "broadcast", "--as", "sternwarte", "--topic", "sternwarte", "--text", "Heute Saturn!",
        cwd=tmp_path,
        REDIS_URL=settings.redis_url.get_secret_value() if settings.redis_url else "",
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        CITY_CONFIG=str(city_file),
        DATA_DIR=str(settings.data_dir),
        WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=NUMBER_ID,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "broadcast 1: sending" in result.stdout
    await graph.wait_for(lambda g: any("Heute Saturn!" in (c.text or "") for c in g.sent(RESIDENT)))
