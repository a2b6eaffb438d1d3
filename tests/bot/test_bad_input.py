"""Nothing a resident sends crashes the service: odd input gets a clear answer or is ignored on purpose."""

from __future__ import annotations

import pytest

from tests.bot.conftest import Say, bot_calls
from tests.fakes.telegram_api import FakeTelegram

CHAT = 5150
HINT = "Das habe ich nicht verstanden. Eine Übersicht aller Befehle gibt es mit /hilfe."


@pytest.mark.parametrize(
    "text",
    [
        "Hallo?",
        "🚒🔥🚒 " * 50,
        "مرحبا بكم في المدينة",  # right-to-left text
        "<b>fett</b> & <script>alert(1)</script>",
        "/unbekannt",
        "/",
        "/@",
        "/abo\u0000verkehr",
        "\u200b\u200b",
    ],
)
async def test_odd_messages_get_the_hint(say: Say, text: str) -> None:
    assert await say(CHAT, text) == [HINT]


async def test_html_like_text_is_escaped_when_echoed(say: Say, tg: FakeTelegram) -> None:
    await say(CHAT, "/start")
    await say(CHAT, "/zustimmen")
    [answer] = await say(CHAT, "/abo <b>Verkehr</b> & Co")
    assert answer.startswith("Das Thema „<b>Verkehr</b> & Co“ kenne ich nicht.")
    assert "&lt;b&gt;Verkehr&lt;/b&gt; &amp; Co" in tg.sent(CHAT)[-1].params["text"]


async def test_very_long_text_is_answered_without_being_read(say: Say) -> None:
    [answer] = await say(CHAT, "/faq " + "x" * 5000)
    assert answer == "Diese Nachricht ist zu lang für mich. Eine Übersicht aller Befehle gibt es mit /hilfe."


@pytest.mark.parametrize(
    ("command", "expected_start"),
    [
        ("/abo", "Bitte nennen Sie ein Thema, zum Beispiel: /abo verkehr"),
        ("/abo mond", "Das Thema „mond“ kenne ich nicht."),
        ("/abo ve", "Das Thema „ve“ kenne ich nicht."),
        ("/abbestellen 🚀", "Das Thema „🚀“ kenne ich nicht."),
        ("/faq 0", "Dazu habe ich keine Antwort gefunden."),
        ("/faq 99999999999999999999", "Dazu habe ich keine Antwort gefunden."),
        ("/sprache fr", "Bitte wählen Sie eine Sprache"),
        ("/loeschen vielleicht", "Wirklich alles löschen?"),
        ("/zustimmen xx", "Sie haben bereits zugestimmt."),
    ],
)
async def test_odd_arguments(say: Say, command: str, expected_start: str) -> None:
    await say(CHAT, "/start")
    await say(CHAT, "/zustimmen")
    [answer] = await say(CHAT, command)
    assert answer.startswith(expected_start)


async def test_forged_and_stale_callback_data(say: Say) -> None:
    await say(CHAT, "/start")
    await say(CHAT, "/zustimmen")
    assert await say(CHAT, "x" * 64, button=True) == [HINT]
    assert await say(CHAT, "/admin-geheim", button=True) == [HINT]
    # A menu button for a topic the city has since removed.
    [answer] = await say(CHAT, "/abo altstadtfest2019", button=True)
    assert answer.startswith("Das Thema „altstadtfest2019“ kenne ich nicht.")


async def test_message_kinds_without_text_get_the_hint(say: Say, tg: FakeTelegram) -> None:
    tg.push_raw(
        {
            "message": {
                "message_id": 1,
                "date": int(tg.dates()),
                "chat": {"id": CHAT, "type": "private"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "Erika"},
                "sticker": {
                    "file_id": "s1",
                    "file_unique_id": "u1",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                },
            }
        }
    )
    await tg.wait_for(lambda t: len(bot_calls(t, CHAT)) == 1)
    assert tg.sent(CHAT)[-1].params["text"] == HINT


async def test_update_kinds_it_does_not_handle_are_ignored(say: Say, tg: FakeTelegram) -> None:
    chat = {"id": CHAT, "type": "private"}
    user = {"id": CHAT, "is_bot": False, "first_name": "Erika"}
    tg.push_raw(
        {
            "edited_message": {
                "message_id": 1,
                "date": 1,
                "edit_date": 2,
                "chat": chat,
                "from": user,
                "text": "x",
            }
        }
    )
    tg.push_raw(
        {
            "channel_post": {
                "message_id": 2,
                "date": 1,
                "chat": {"id": -100123, "type": "channel"},
                "text": "y",
            }
        }
    )
    tg.push_raw(
        {
            "poll": {
                "id": "p",
                "question": "?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        }
    )
    tg.push_raw({"unknown_future_kind": {"x": 1}})
    # The service is still there and answers the next real message, and nothing else was sent.
    assert await say(CHAT, "/hilfe") != []
    assert len(bot_calls(tg, CHAT)) == 1
    assert not [c for c in bot_calls(tg, -100123)]
