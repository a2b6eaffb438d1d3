"""How a digest reads: grouped by topic, in the resident's language, split at item boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broadcasts.digest import LONGEST, DigestRun
from broadcasts.model import Broadcast
from broadcasts.timeline import Item
from tests.broadcasts.conftest import CITY

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def item(number: int, topic: str, text: str, english: str | None = None) -> Item:
    broadcast = Broadcast(
        id=str(number),
        topics=(topic,),
        text_de=text,
        text_en=english,
        author="presse-redaktion",
        created_at=START,
    )
    return Item(START + timedelta(minutes=number), broadcast)


def run(items: dict[str, list[Item]]) -> DigestRun:
    def topic_name(topic_id: str, language: str) -> str:
        topic = CITY.topic(topic_id)
        assert topic is not None
        return topic.name.get(language)

    return DigestRun(items, "Beispielstadt", "24.11.2026", CITY.tz, topic_name)


def test_items_are_grouped_by_topic_in_the_residents_language() -> None:
    digest = run(
        {
            "verkehr": [
                item(1, "verkehr", "B7 gesperrt", "B7 closed"),
                item(2, "verkehr", "Ampel repariert"),
            ],
            "kultur": [item(3, "kultur", "Museumsnacht", "Museum night")],
        }
    )
    [german] = digest.parts({"verkehr", "kultur"}, "de", None)
    assert german == (
        "🗞️ Ihr Tagesüberblick · Beispielstadt · 24.11.2026\n\n"
        "Verkehr\n• 07:01 B7 gesperrt\n• 07:02 Ampel repariert\n\n"
        "Kultur\n• 07:03 Museumsnacht"
    )
    [english] = digest.parts({"kultur"}, "en", None)
    assert english == "🗞️ Your daily digest · Beispielstadt · 24.11.2026\n\nCulture\n• 07:03 Museum night"
    assert digest.parts({"baustellen"}, "de", None) == [], "nothing of theirs: nothing is sent"
    after_first = digest.parts({"verkehr"}, "de", START + timedelta(minutes=1))
    assert "B7" not in after_first[0], "items from before the switch to digests were sent at once"


def test_an_item_in_two_topics_is_listed_once() -> None:
    shared = item(1, "verkehr", "Sperrung am Markt")
    [text] = run({"verkehr": [shared], "baustellen": [shared]}).parts({"verkehr", "baustellen"}, "de", None)
    assert text.count("Sperrung am Markt") == 1


def test_a_long_digest_is_split_at_item_boundaries() -> None:
    items = {
        "verkehr": [item(n, "verkehr", f"Meldung {n}: " + "Verkehrshinweis " * 40) for n in range(1, 16)],
        "kultur": [item(n, "kultur", f"Meldung {n}: " + "Kulturtipp " * 60) for n in range(16, 26)],
    }
    parts = run(items).parts({"verkehr", "kultur"}, "de", None)
    assert len(parts) > 2
    assert all(len(part) <= 4096 for part in parts), [len(p) for p in parts]
    assert all(len(part) <= LONGEST + 20 for part in parts)
    for number in range(1, 26):
        holding = [part for part in parts if f"Meldung {number}: " in part]
        assert len(holding) == 1, f"item {number} is whole in exactly one message"
    assert [part.rsplit("(", 1)[1] for part in parts] == [
        f"{n}/{len(parts)})" for n in range(1, len(parts) + 1)
    ]
    continued = [part for part in parts[1:] if part.startswith("Verkehr (Fortsetzung)")]
    assert continued, "a topic going on in the next message repeats its name"
    assert parts[0].startswith("🗞️ Ihr Tagesüberblick")


def test_an_item_longer_than_a_message_is_cut_not_lost() -> None:
    [text] = run({"verkehr": [item(1, "verkehr", "x" * 5000)]}).parts({"verkehr"}, "de", None)
    assert len(text) <= 4096
    assert text.endswith("…")
