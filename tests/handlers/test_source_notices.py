"""A polled source's health as messages to the admins, on every messenger they use."""

from __future__ import annotations

from bot.settings import DEFAULT_CITY_FILE
from broadcasts.sources import Health, HealthChange
from city.config import load_city
from city.values import Channel, Resident
from handlers.source_notices import health_replies
from handlers.texts import Texts


def test_admins_hear_of_a_source_down_and_back_in_their_language_on_every_chat() -> None:
    city = load_city(DEFAULT_CITY_FILE)
    texts = Texts.load()
    down = health_replies(city, texts, HealthChange("pressestelle", Health.DOWN, "HTTP 503"))
    # The example city's one admin has Telegram and WhatsApp.
    assert [reply.to for reply in down] == [
        Resident(Channel.TELEGRAM, "100001"),
        Resident(Channel.WHATSAPP, "4915100000001"),
    ]
    assert all("„pressestelle“" in reply.text and "HTTP 503" in reply.text for reply in down)
    back = health_replies(city, texts, HealthChange("pressestelle", Health.RECOVERED, ""))
    assert {reply.text for reply in back} == {texts("de", "source_recovered", source="pressestelle")}
    assert "wieder" in back[0].text
