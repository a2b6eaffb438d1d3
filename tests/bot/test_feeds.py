"""Press feeds into the desk, through the service, the document stand-in and the Bot API stand-in."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.feeds import feed_loop
from bot.service import Service
from broadcasts.model import Broadcast, State
from broadcasts.timeline import Timeline
from tests.bot.cli.test_cli import stadtfunk
from tests.bot.conftest import Say, bot_calls, edit_city
from tests.conftest import ManualClock
from tests.fakes.feed_documents import Entry, atom, rss
from tests.fakes.http_source import FakeSource
from tests.fakes.telegram_api import FakeTelegram

ADMIN, EDITOR, APPROVER, FIRE = 100001, 100002, 100003, 100004
RESIDENT = 777
OLD = Entry("Rathaus geschlossen", "<p>Das Rathaus bleibt am Freitag geschlossen.</p>",
            "https://www.stadt-beispiel.de/pm/1", "pm-1")  # fmt: skip
NEW = Entry(
    "Vollsperrung der B7",
    "<p>Die B7 ist ab <b>Montag</b> voll gesperrt. Eine Umleitung ist ausgeschildert.</p>",
    "https://www.stadt-beispiel.de/pm/2",
    "pm-2",
)


@pytest.fixture
async def feeds() -> AsyncIterator[FakeSource]:
    async with FakeSource() as fake:
        yield fake


async def add_feed(service: Service, city_file: Path, url: str, *, extra: str = "topic: verkehr") -> None:
    entry = f"\nfeeds:\n  - id: pressestelle\n    url: {url}\n    {extra}\n    poll_minutes: 10\n"
    with city_file.open("a", encoding="utf-8") as handle:
        handle.write(entry)
    assert await service.reload_city()


async def poll(service: Service, clock: ManualClock) -> None:
    """The feed's interval passes and the loop takes its turn (as its beat would)."""
    clock.advance(minutes=10)
    assert service.feeds is not None
    await service.feeds.tick()


async def broadcasts(service: Service) -> list[Broadcast]:
    assert service.engine is not None
    return list(reversed(await service.engine.store.recent(50)))


def texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [html.unescape(str(call.params.get("text"))) for call in tg.sent(chat)]


def told_of_feed(chat: int) -> Callable[[FakeTelegram], bool]:
    return lambda t: any("pressestelle" in text for text in texts(t, chat))


async def test_a_new_item_becomes_one_draft_its_editors_are_told_and_four_eyes_follow(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock, tg: FakeTelegram, say: Say
) -> None:
    feeds.put("presse.xml", rss(OLD))
    await add_feed(service, city_file, feeds.url("presse.xml"))
    await poll(service, clock)
    assert await broadcasts(service) == [], "what the feed held when added is known, not drafted"

    feeds.put("presse.xml", rss(NEW, OLD))
    await poll(service, clock)
    [draft] = await broadcasts(service)
    assert (draft.state, draft.author, draft.topics) == (State.DRAFT, "feed:pressestelle", ("verkehr",))
    assert draft.text_de == (
        "Vollsperrung der B7\n\nDie B7 ist ab Montag voll gesperrt. Eine Umleitung ist ausgeschildert."
        "\n\nMehr: https://www.stadt-beispiel.de/pm/2"
    )
    for editor in (ADMIN, EDITOR):  # the admin holds every role; the editor holds "editor: all"
        await tg.wait_for(told_of_feed(editor))
        [told] = [c for c in tg.sent(editor) if "pressestelle" in str(c.params.get("text"))]
        assert f"Entwurf #{draft.id}" in html.unescape(str(told.params["text"]))
        assert "Die B7 ist ab Montag voll gesperrt." in html.unescape(str(told.params["text"]))
        pressed = [b["callback_data"] for row in told.params["reply_markup"]["inline_keyboard"] for b in row]
        assert pressed == [f"/einreichen {draft.id}", f"/aendern {draft.id}", f"/verwerfen {draft.id}"]
    assert not any("pressestelle" in text for text in texts(tg, FIRE)), "not an editor of verkehr"

    [pending] = await say(EDITOR, "/offen")
    assert f"#{draft.id}" in pending
    submitted = await say(EDITOR, f"/einreichen {draft.id}", button=True)
    assert "eingereicht" in submitted[0]
    stored = (await broadcasts(service))[0]
    assert (stored.author, stored.state) == ("presse-redaktion", State.PENDING_APPROVAL)
    [refused] = await say(EDITOR, f"/freigeben {draft.id}")
    assert "eigene" in refused, "the editor who submitted it is its author: a second person approves"


async def test_the_same_item_again_and_after_a_restart_is_nothing_new_and_unchanged_costs_a_304(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock
) -> None:
    feeds.put("presse.xml", rss(OLD))
    await add_feed(service, city_file, feeds.url("presse.xml"))
    await poll(service, clock)
    feeds.put("presse.xml", rss(NEW, OLD))
    await poll(service, clock)
    await poll(service, clock)
    assert feeds.requested("presse.xml")[-1].if_none_match, "asked with the validators of the last answer"
    assert len(await broadcasts(service)) == 1

    await service.stop()
    await service.start()
    feeds.put("presse.xml", rss(NEW, OLD).replace("Pressemitteilungen", "Pressemitteilungen der Stadt"))
    await poll(service, clock)
    assert len(feeds.requested("presse.xml")) == 4
    assert len(await broadcasts(service)) == 1, "taken once, across restarts"


async def test_a_broken_feed_is_told_to_the_admins_once_and_its_recovery_once(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock, tg: FakeTelegram, say: Say
) -> None:
    feeds.put("presse.xml", "<html><body>Wartungsarbeiten</body></html>", content_type="text/html")
    await add_feed(service, city_file, feeds.url("presse.xml"))
    for _ in range(5):
        await poll(service, clock)
    await tg.wait_for(lambda t: any("pressestelle" in x for x in texts(t, ADMIN)))
    down = [x for x in texts(tg, ADMIN) if "„feed:pressestelle“ ist nicht erreichbar (malformed)" in x]
    assert len(down) == 1
    assert await broadcasts(service) == []
    [status] = await say(EDITOR, "/quellen")
    assert "5 Fehler in Folge, zuletzt: malformed" in status

    feeds.put("presse.xml", rss(OLD))
    await poll(service, clock)
    await poll(service, clock)
    await tg.wait_for(lambda t: any("antwortet wieder" in x for x in texts(t, ADMIN)))
    assert len([x for x in texts(tg, ADMIN) if "antwortet wieder" in x]) == 1


async def test_keyword_routing_sends_items_to_their_topics_and_others_to_the_feed_topic(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock
) -> None:
    feeds.put("feuerwehr.atom", atom())
    routes = "topic: verkehr\n    topic_by_keyword: {feuerwehr: [Brand, rauch], baustellen: [sperrung]}"
    await add_feed(service, city_file, feeds.url("feuerwehr.atom"), extra=routes)
    await poll(service, clock)
    fire = Entry("Brand in Altstadt", "Starker Rauch, Fenster schließen.", "https://f.de/1", "urn:1")
    works = Entry("Baustelle", "Vollsperrung der Hauptstraße.", "https://f.de/2", "urn:2")
    other = Entry("Tag der offenen Tür", "Die Wache lädt ein.", "https://f.de/3", "urn:3")
    feeds.put("feuerwehr.atom", atom(other, works, fire))
    await poll(service, clock)
    assert [(b.topics, b.text_de.split("\n")[0]) for b in await broadcasts(service)] == [
        (("feuerwehr",), "Brand in Altstadt"),
        (("baustellen",), "Baustelle"),
        (("verkehr",), "Tag der offenen Tür"),
    ]


async def test_digest_mode_puts_the_item_into_the_next_digest_without_a_push(
    service: Service,
    city_file: Path,
    feeds: FakeSource,
    clock: ManualClock,
    redis: aioredis.Redis,
    tg: FakeTelegram,
    say: Say,
) -> None:
    await say(RESIDENT, "/start")
    await say(RESIDENT, "/zustimmen")
    await say(RESIDENT, "/abo kultur")
    await say(RESIDENT, "/zustellung taeglich")
    feeds.put("presse.xml", rss())
    await add_feed(service, city_file, feeds.url("presse.xml"), extra="topic: kultur\n    mode: digest")
    await poll(service, clock)
    before = clock()
    feeds.put("presse.xml", rss(NEW))
    await poll(service, clock)
    assert service.engine is not None
    assert service.storage is not None
    timeline = Timeline(redis, service.storage.keys, service.engine.store)
    found = await timeline.news_between(["kultur"], before, clock())
    [item] = found["kultur"]
    assert item.broadcast.text_de.startswith("Vollsperrung der B7")
    assert item.broadcast.state is State.DONE
    assert not any("pressestelle" in text for chat in (ADMIN, EDITOR) for text in texts(tg, chat))
    assert not any("Vollsperrung" in text for text in texts(tg, RESIDENT)), "no push"
    # A digest reader who switches to "sofort" gets what the next digest would have held.
    tg.push_message(RESIDENT, "/zustellung sofort")
    await tg.wait_for(lambda t: any("Vollsperrung der B7" in text for text in texts(t, RESIDENT)))


async def test_html_in_items_is_neutralised(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock
) -> None:
    feeds.put("presse.xml", rss())
    await add_feed(service, city_file, feeds.url("presse.xml"))
    await poll(service, clock)
    hostile = Entry(
        "Fest &amp; <i>Feuerwerk</i>",
        '<p onclick="x()">Am <a href="javascript:alert(1)">Samstag</a> &lt;3</p><script>steal()</script>'
        "<style>p{}</style><!-- intern --><img src=x onerror=alert(1)>Ende.",
        "https://www.stadt-beispiel.de/pm/9",
        "pm-9",
    )
    feeds.put("presse.xml", rss(hostile))
    await poll(service, clock)
    [draft] = await broadcasts(service)
    assert (
        draft.text_de
        == "Fest & Feuerwerk\n\nAm Samstag <3\nEnde.\n\nMehr: https://www.stadt-beispiel.de/pm/9"
    )


async def test_a_slow_feed_is_cut_off_and_a_huge_one_refused(
    service: Service, feeds: FakeSource, city_file: Path, clock: ManualClock, say: Say
) -> None:
    feeds.hang("presse.xml")
    feeds.put("riesig.xml", b"<rss>" + b" " * (5 * 1024 * 1024) + b"</rss>")
    await add_feed(service, city_file, feeds.url("presse.xml"))
    edit_city(
        city_file,
        "\nfeeds:\n",
        f"\nfeeds:\n  - id: riesig\n    url: {feeds.url('riesig.xml')}\n    topic: kultur\n",
    )
    assert await service.reload_city()
    assert service.storage is not None
    async with aiohttp.ClientSession() as session:
        loop = feed_loop(
            storage=service.storage, session=session, engine=service.engine, services=service.services,
            worker="test", clock=clock, send=service.outbound.send, timeout_s=0.3,
        )  # fmt: skip
        assert loop is not None
        await loop.tick()
    [status] = await say(EDITOR, "/quellen")
    assert "• pressestelle (draft, alle 10 min)" in status
    assert "1 Fehler in Folge, zuletzt: timeout" in status
    assert "1 Fehler in Folge, zuletzt: too large" in status
    assert await broadcasts(service) == []


async def test_publish_mode_sends_at_once_where_the_topic_needs_no_approval(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock, tg: FakeTelegram, say: Say
) -> None:
    await say(RESIDENT, "/start")
    await say(RESIDENT, "/zustimmen")
    await say(RESIDENT, "/abo sternwarte")
    feeds.put("sterne.xml", rss())
    await add_feed(service, city_file, feeds.url("sterne.xml"), extra="topic: sternwarte\n    mode: publish")
    await poll(service, clock)
    feeds.put(
        "sterne.xml", rss(Entry("Sternschnuppen", "Heute Nacht: die Geminiden.", "https://s.de/1", "s1"))
    )
    await poll(service, clock)
    await tg.wait_for(lambda t: any("Geminiden" in text for text in texts(t, RESIDENT)))
    [sent] = await broadcasts(service)
    assert sent.author == "feed:pressestelle"


async def test_two_editors_taking_up_one_feed_draft_at_once_leave_one_author(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock, tg: FakeTelegram
) -> None:
    feeds.put("presse.xml", rss())
    await add_feed(service, city_file, feeds.url("presse.xml"))
    await poll(service, clock)
    feeds.put("presse.xml", rss(NEW))
    await poll(service, clock)
    [draft] = await broadcasts(service)
    before = {chat: len(bot_calls(tg, chat)) for chat in (ADMIN, EDITOR)}
    for chat in (ADMIN, EDITOR):
        tg.push_callback(chat, f"/einreichen {draft.id}")
    await tg.wait_for(lambda t: all(len(bot_calls(t, chat)) > before[chat] for chat in (ADMIN, EDITOR)))
    [stored] = await broadcasts(service)
    assert stored.state is State.PENDING_APPROVAL
    assert stored.author in ("presse-leitung", "presse-redaktion")
    loser = EDITOR if stored.author == "presse-leitung" else ADMIN
    assert "Das kann nur, wer #1 geschrieben hat." in str(bot_calls(tg, loser)[-1].params["text"])


def test_stadtfunk_feeds_prints_each_feed_and_check_config_refuses_publish_with_approval(
    city_file: Path, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix, "CITY_CONFIG": str(city_file)}
    feed = "\nfeeds:\n  - id: pressestelle\n    url: https://example.de/rss.xml\n    topic: verkehr\n"
    city_file.write_text(city_file.read_text(encoding="utf-8") + feed, encoding="utf-8")
    shown = stadtfunk("feeds", cwd=tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    assert "pressestelle  ok  mode draft  every 10 min  topics verkehr" in shown.stdout
    assert "last poll never" in shown.stdout
    edit_city(city_file, feed, feed + "    mode: publish\n")
    refused = stadtfunk("check-config", cwd=tmp_path, **env)
    assert refused.returncode == 2
    assert '"publish" sends without a second person, but "verkehr" needs approval' in refused.stderr


async def test_an_items_picture_is_fetched_and_attached_and_what_is_no_picture_left_out(
    service: Service, city_file: Path, feeds: FakeSource, clock: ManualClock
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    feeds.put("bild.png", png, content_type="image/png")
    feeds.put("kein-bild", "<html>nein</html>", content_type="text/html")
    feeds.put("presse.xml", rss())
    await add_feed(service, city_file, feeds.url("presse.xml"))
    await poll(service, clock)
    pictured = Entry("Mit Bild", "Ein Foto.", "https://s.de/1", "b1", feeds.url("bild.png"))
    pretend = Entry("Ohne Bild", "Kein Foto.", "https://s.de/2", "b2", feeds.url("kein-bild"))
    feeds.put("presse.xml", rss(pretend, pictured))
    await poll(service, clock)
    with_picture, without = await broadcasts(service)
    assert with_picture.text_de.startswith("Mit Bild")
    assert with_picture.image is not None
    # Kept in Redis with its broadcast, where every sender process reads it; nothing on this host's disk.
    assert service.engine is not None
    assert await service.engine.store.images.read(with_picture.image) == png
    assert [*service.settings.data_dir.rglob("*.png")] == []
    assert without.text_de.startswith("Ohne Bild")
    assert without.image is None
