"""Feed items as residents read them: plain text, whole sentences within the limit, a Mehr: link, topics."""

from __future__ import annotations

import pytest

from broadcasts.feeds import FeedItem, item_text, plain_text, route, shorten
from city.feeds import Feed


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Erster Absatz.</p><p>Zweiter&nbsp;Absatz.</p>", "Erster Absatz.\n\nZweiter Absatz."),
        ("Zeile<br>Zeile<br/>Ende", "Zeile\nZeile\nEnde"),
        ("<ul><li>eins</li><li>zwei</li></ul>", "• eins\n\n• zwei"),
        ("<script>var a = '<p>x</p>';</script>Text<style>b{}</style>", "Text"),
        ("<b onmouseover=alert(1)>fett</b> &amp; &lt;b&gt; &#x263A;", "fett & <b> ☺"),
        ("<!-- intern -->sichtbar<?php echo 1 ?>", "sichtbar"),
        ("Unvollständig <a href='x", "Unvollständig"),
        ("Steuer\x00zeichen\x1b[31m rot", "Steuerzeichen[31m rot"),
        ("Nur Text, kein HTML.", "Nur Text, kein HTML."),
    ],
)
def test_html_is_reduced_to_plain_text(html: str, text: str) -> None:
    assert plain_text(html) == text


def test_shorten_ends_after_the_last_whole_sentence_that_fits() -> None:
    text = "Erster Satz hier. Zweiter Satz ist da! Dritter Satz kommt noch dazu."
    assert shorten(text, 40) == "Erster Satz hier. Zweiter Satz ist da!"
    assert shorten(text, 200) == text


def test_shorten_without_a_sentence_end_cuts_at_a_word() -> None:
    shortened = shorten("ein sehr langer Satz ohne jedes Ende " * 10, 50)
    assert len(shortened) <= 50
    assert shortened.endswith("…")
    assert not shortened[:-1].endswith(" ")


def test_an_item_fits_the_limit_with_its_link_whatever_its_length() -> None:
    body = "<p>" + "Dies ist ein Satz der Pressemitteilung. " * 400 + "</p>"
    item = FeedItem("g", "Titel", body, "https://example.de/pm/1")
    text = item_text(item, 1000)
    assert len(text) <= 1000
    assert text.startswith("Titel\n\nDies ist ein Satz")
    assert text.endswith("Pressemitteilung.\n\nMehr: https://example.de/pm/1")


def test_keywords_route_case_blind_inside_compounds_else_to_the_feed_topic() -> None:
    feed = Feed(id="f", url="https://x.de/f", topic="verkehr", topic_by_keyword={"baustellen": ["Sperrung"]})
    assert route(feed, FeedItem("1", "Vollsperrung", "", "")) == ("baustellen",)
    assert route(feed, FeedItem("2", "Fest", "<p>SPERRUNG der Straße</p>", "")) == ("baustellen",)
    assert route(feed, FeedItem("3", "Fest", "Musik", "")) == ("verkehr",)
    only_keywords = Feed(id="f", url="https://x.de/f", topic_by_keyword={"kultur": ["konzert"]})
    assert route(only_keywords, FeedItem("4", "Fest", "Musik", "")) == ()
