from tests.bot.conftest import Say


async def test_start(say: Say) -> None:
    texts = await say(42, "/start")
    assert "Willkommen" in texts[0]
