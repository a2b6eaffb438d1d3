"""Replies as Cloud API bodies: WhatsApp's interactive limits hold whatever the core asks for."""

from __future__ import annotations

import pytest

from bot.whatsapp.payloads import addressed, one_line, reply_bodies, template
from city.config import WhatsAppTemplate
from handlers.values import Button, Reply


def buttons(count: int, label: str = "Thema") -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(f"{label} {n}", f"/abo t{n}"),) for n in range(count))


LAYOUTS = [(0, ["text"]), (1, ["button"]), (3, ["button"]), (4, ["list"]), (10, ["list"]), (11, ["list"] * 2),
           (25, ["list"] * 3)]  # fmt: skip


@pytest.mark.parametrize(("count", "kinds"), LAYOUTS)
def test_up_to_three_buttons_are_reply_buttons_more_become_lists_of_ten(count: int, kinds: list[str]) -> None:
    bodies = reply_bodies(Reply("Ihre Themen", buttons=buttons(count)))
    assert [b["interactive"]["type"] if b["type"] == "interactive" else b["type"] for b in bodies] == kinds
    rows = [
        row["id"]
        for b in bodies
        if b["type"] == "interactive" and b["interactive"]["type"] == "list"
        for section in b["interactive"]["action"]["sections"]
        for row in section["rows"]
    ]
    chosen = [
        item["reply"]["id"]
        for b in bodies
        if b["type"] == "interactive" and b["interactive"]["type"] == "button"
        for item in b["interactive"]["action"]["buttons"]
    ]
    assert sorted(rows + chosen) == sorted(f"/abo t{n}" for n in range(count))
    lists = [
        b["interactive"] for b in bodies if b["type"] == "interactive" and b["interactive"]["type"] == "list"
    ]
    assert all(len(found["action"]["sections"][0]["rows"]) <= 10 for found in lists)


def test_long_labels_fit_titles_and_keep_their_words_in_the_description() -> None:
    label = "3. Wo bekomme ich einen Bewohnerparkausweis für die Innenstadt?"
    (body,) = reply_bodies(Reply("FAQ", buttons=((Button(label, "/faq 3"),), (Button("Kurz", "/faq 4"),))))
    row = body["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) == 24
    assert row["title"].endswith("…")
    assert row["description"] == label


def test_a_long_text_goes_first_and_the_buttons_ride_on_a_body_within_1024_characters() -> None:
    text = ("Absatz mit Informationen. " * 60 + "\n\n") * 5
    bodies = reply_bodies(Reply(text, buttons=buttons(2)))
    assert all(len(b["text"]["body"]) <= 4096 for b in bodies if b["type"] == "text")
    assert len(bodies[-1]["interactive"]["body"]["text"]) <= 1024
    joined = " ".join(
        b["text"]["body"] if b["type"] == "text" else b["interactive"]["body"]["text"] for b in bodies
    )
    assert joined.split() == text.split()


def test_button_titles_over_twenty_characters_make_a_list_instead() -> None:
    (body,) = reply_bodies(Reply("?", buttons=((Button("Ja, alle abbestellen bitte", "/abbestellen ja"),),)))
    assert body["interactive"]["type"] == "list"


def test_template_parameters_are_one_line_and_bounded() -> None:
    spec = WhatsAppTemplate(
        name="stadtfunk_nachricht", languages={"de": "de", "en": "en_US"}, parameters=["city", "text"]
    )
    body = template(spec, "en", {"text": "Zeile 1\n\nZeile 2\twith     spaces", "city": "Beispielstadt"})
    assert body["template"]["language"] == {"code": "en_US"}
    parameters = [p["text"] for p in body["template"]["components"][0]["parameters"]]
    assert parameters == ["Beispielstadt", "Zeile 1 · Zeile 2 with   spaces"]
    assert len(one_line("x" * 5000)) == 900
    assert one_line("\n\n") == "-"


def test_phone_numbers_go_in_to_and_business_scoped_ids_in_recipient() -> None:
    assert addressed("4915112345678", {"type": "text"})["to"] == "4915112345678"
    assert addressed("DE.1349120865530274191", {"type": "text"})["recipient"] == "DE.1349120865530274191"
    assert addressed("1", {"type": "text"}, tag="42")["biz_opaque_callback_data"] == "42"
