"""Reading RSS 2.0 and Atom documents from the bytes fetched: items, their identity and picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds import parse
from bot.polling import Malformed
from tests.fakes.feed_documents import Entry, atom, rss


def test_rss_and_atom_items_are_read_with_their_identity_and_image() -> None:
    with_guid = Entry("A", "<p>a</p>", "https://x.de/a", "guid-a", "https://x.de/a.jpg")
    without = Entry("B", "b", "https://x.de/b")
    [a, b] = parse(rss(with_guid, without).encode())
    assert (a.identity, a.title, a.body_html, a.link, a.image) == (
        "guid-a", "A", "<p>a</p>", "https://x.de/a", "https://x.de/a.jpg"
    )  # fmt: skip
    assert b.identity == "https://x.de/b\nB", "no guid: the link and the title"
    [c] = parse(atom(Entry("C", "<b>c</b>", "https://x.de/c", "urn:c")).encode())
    assert (c.identity, c.body_html, c.link) == ("urn:c", "<b>c</b>", "https://x.de/c")


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Wartung</body></html>", b"\x00\xff\xfe kaputt", b"<rss><channel><item>"],
)
def test_what_is_not_a_feed_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        parse(body)


def test_a_body_naming_a_local_file_is_not_read_from_disk(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_text(rss(Entry("Geheim", "aus der Platte", "https://x.de/g", "g")), encoding="utf-8")
    with pytest.raises(Malformed):
        parse(str(local).encode())
