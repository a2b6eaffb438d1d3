"""The conversation under load, through the running service and the Bot API stand-in: per-chat lanes,
flood control, stale messages and group chats."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

from bot.service import Service
from city.values import Channel, Resident
from tests.bot.conftest import FLOOD_EXAMPLE, FLOOD_UNTESTED, Say, bot_calls, edit_city, settled
from tests.conftest import ManualClock
from tests.fakes.telegram_api import FakeTelegram

EDITOR = 100002
FLOODER, OTHER, READER = 901, 902, 903
GROUP = -1001234567890
HELP_START = "So funktioniert der Stadtfunk:"
FLOOD_NOTICE = "Das sind zu viele Nachrichten auf einmal."
HINT = "In Gruppen antworte ich nicht. Schreiben Sie mir bitte direkt in einem privaten Chat"


def texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [html.unescape(text) for text in tg.texts(chat)]


async def test_a_flooder_delays_neither_another_resident_nor_staff(
    service: Service, tg: FakeTelegram, city_file: Path
) -> None:
    edit_city(city_file, FLOOD_UNTESTED, FLOOD_EXAMPLE)
    assert await service.reload_city()
    tg.hold("sendMessage")
    for _ in range(30):
        tg.push_message(FLOODER, "/hilfe")
    tg.push_message(OTHER, "/hilfe")
    tg.push_message(EDITOR, "/offen")
    # The flooder's first answer is stuck on its way to Telegram; the others are answered beside it.
    await tg.wait_for(
        lambda t: {p.get("chat_id") for _, p in t.held} == {str(FLOODER), str(OTHER), str(EDITOR)}
    )
    tg.release()
    await tg.wait_for(lambda t: len(t.sent(FLOODER)) >= 9 and len(t.sent(EDITOR)) == 1)
    await settled(service)
    flooder = texts(tg, FLOODER)
    # The budget's 8 answers, then one notice, and nothing for the other 21.
    assert [text.startswith(HELP_START) for text in flooder] == [True] * 8 + [False]
    assert flooder[-1].startswith(FLOOD_NOTICE)
    assert texts(tg, OTHER)[0].startswith(HELP_START)
    assert texts(tg, EDITOR) == ["Nichts offen."]


async def test_staff_are_exempt_from_the_flood_budget(
    service: Service, tg: FakeTelegram, city_file: Path
) -> None:
    edit_city(city_file, FLOOD_UNTESTED, FLOOD_EXAMPLE)
    assert await service.reload_city()
    for _ in range(12):
        tg.push_message(EDITOR, "/offen")
    await tg.wait_for(lambda t: len(t.sent(EDITOR)) == 12)
    assert set(texts(tg, EDITOR)) == {"Nichts offen."}


async def test_a_chat_that_calmed_down_is_answered_again(
    service: Service, tg: FakeTelegram, city_file: Path, clock: ManualClock
) -> None:
    edit_city(city_file, FLOOD_UNTESTED, FLOOD_EXAMPLE)
    assert await service.reload_city()
    for _ in range(10):
        tg.push_message(FLOODER, "/hilfe")
    await tg.wait_for(lambda t: len(t.sent(FLOODER)) == 9)
    clock.advance(seconds=30)
    tg.push_message(FLOODER, "/datenschutz")
    await tg.wait_for(lambda t: len(t.sent(FLOODER)) == 10)
    assert not texts(tg, FLOODER)[-1].startswith((HELP_START, FLOOD_NOTICE))


async def test_answers_keep_their_order_within_a_chat(say: Say, tg: FakeTelegram) -> None:
    commands = ["/hilfe", "/faq", "/themen", "Sperrmüll", "/hilfe"]
    expected = [(await say(READER, command))[0] for command in commands]
    tg.hold("sendMessage")
    for command in commands:
        tg.push_message(OTHER, command)
    for _ in commands:  # one answer at a time: the next is only asked for once the one before is out
        await tg.wait_for(lambda t: len(t.held) == 1)
        tg.release(1)
    await tg.wait_for(lambda t: len(t.sent(OTHER)) == len(commands))
    tg.release()
    assert texts(tg, OTHER) == expected


async def test_a_stale_staff_command_is_skipped_and_its_author_told(
    say: Say, tg: FakeTelegram, clock: ManualClock
) -> None:
    written = clock() - timedelta(minutes=12)
    tg.push_message(EDITOR, "/meldung verkehr Sperrung der B7 ab Montag", date=written.timestamp())
    await tg.wait_for(lambda t: len(t.sent(EDITOR)) == 1)
    [skipped] = texts(tg, EDITOR)
    assert skipped.startswith("Nicht ausgeführt: „/meldung verkehr Sperrung der B7 ab Montag“.")
    assert "12 Minuten alt, älter als 5 Minuten" in skipped
    assert "/offen" in skipped
    assert await say(EDITOR, "/offen") == ["Nichts offen."], "the draft was not made"
    fresh = clock() - timedelta(minutes=4)
    tg.push_message(EDITOR, "/meldung verkehr Sperrung der B7 ab Montag", date=fresh.timestamp())
    await tg.wait_for(lambda t: len(t.sent(EDITOR)) == 3)
    assert texts(tg, EDITOR)[-1].startswith("Entwurf #1")


async def test_a_resident_message_older_than_a_day_is_dropped_without_a_word(
    say: Say, tg: FakeTelegram, clock: ManualClock
) -> None:
    tg.push_message(READER, "/hilfe", date=(clock() - timedelta(hours=25)).timestamp())
    tg.push_message(READER, "/hilfe", date=(clock() - timedelta(hours=23)).timestamp())
    # Handled in order in the chat's lane: once this is answered, the two before it were handled.
    answers = await say(READER, "/datenschutz", replies=3)  # the privacy notice comes in two messages
    assert [answer.startswith(HELP_START) for answer in answers] == [True, False, False]
    assert len(bot_calls(tg, READER)) == 3


async def test_in_a_group_the_bot_only_points_to_a_private_chat(
    service: Service, say: Say, tg: FakeTelegram
) -> None:
    tg.push_message(GROUP, "/meldung verkehr Embargo bis 12 Uhr", user_id=EDITOR, chat_type="supergroup")
    tg.push_message(GROUP, "Hallo zusammen, wer kommt heute?", user_id=READER, chat_type="supergroup")
    tg.push_message(GROUP, "/zustimmen", user_id=READER, chat_type="supergroup")
    tg.push_message(GROUP, "/abo verkehr", user_id=READER, chat_type="supergroup")
    await tg.wait_for(lambda t: len(bot_calls(t, GROUP)) == 3)
    await settled(service)
    group = texts(tg, GROUP)
    assert len(group) == 3
    assert all(text.startswith(HINT) for text in group), "no preview, consent or subscription there"
    assert service.services is not None
    residents = service.services.residents
    assert await residents.get(Resident(Channel.TELEGRAM, str(GROUP))) is None
    assert await residents.get(Resident(Channel.TELEGRAM, str(READER))) is None
    assert await say(EDITOR, "/offen") == ["Nichts offen."]
