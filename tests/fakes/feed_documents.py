"""RSS 2.0 and Atom documents as press offices publish them, built in tests for the document stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True)
class Entry:
    title: str
    html: str  # the item's text, HTML as press feeds send it (escaped into the XML)
    link: str = ""
    guid: str = ""
    image: str = ""


def rss(*entries: Entry) -> str:
    items = []
    for entry in entries:
        parts = [f"<title>{escape(entry.title)}</title>", f"<description>{escape(entry.html)}</description>"]
        if entry.link:
            parts.append(f"<link>{escape(entry.link)}</link>")
        if entry.guid:
            parts.append(f'<guid isPermaLink="false">{escape(entry.guid)}</guid>')
        if entry.image:
            parts.append(f'<enclosure url="{escape(entry.image)}" type="image/jpeg" length="1000"/>')
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Pressestelle</title>'
        "<link>https://www.stadt-beispiel.de/</link><description>Pressemitteilungen</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def atom(*entries: Entry) -> str:
    items = []
    for entry in entries:
        items.append(
            f"<entry><title>{escape(entry.title)}</title><id>{escape(entry.guid)}</id>"
            f'<link rel="alternate" href="{escape(entry.link)}"/><updated>2026-11-23T08:00:00Z</updated>'
            f'<content type="html">{escape(entry.html)}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Feuerwehr</title><id>urn:feuerwehr</id><updated>2026-11-23T08:00:00Z</updated>"
        + "".join(items)
        + "</feed>"
    )
