"""A feed item as residents read it: the item's HTML reduced to plain text, shortened to one message at
a sentence boundary with a "Mehr:" link to the full text, and the topics its words send it to.

Pure: the document is fetched and parsed in bot/feeds.py, and what becomes of an item is the desk's
(broadcasts/feed_desk.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

from city.feeds import Feed

# One message in Telegram and WhatsApp holds 4096 characters; the header (label and topic names) that
# rendering puts above the text needs some of them.
TEXT_LIMIT = 4096 - 200
# With a picture the text is its caption, which Telegram limits to 1024 characters; a longer one would
# arrive as a second message.
IMAGE_TEXT_LIMIT = 1024 - 100
MORE = "Mehr:"

# Elements whose content is never text for people: code, styling, embedded documents.
_HIDDEN = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe", "object",
                     "svg", "math", "select", "textarea"})  # fmt: skip
# Elements that end a line of text.
_BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
                     "table", "blockquote", "section", "article", "header", "footer", "pre", "hr",
                     "dd", "dt", "figure", "figcaption"})  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?…][\"'»«“”)]*(?=\s)")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


@dataclass(frozen=True, slots=True)
class FeedItem:
    identity: str  # the guid, or the link and the title when the feed gives no guid
    title: str  # plain text
    body_html: str  # the item's text as the feed gives it, HTML or not
    link: str
    image: str = ""  # the address of the item's picture, if the feed names one


class _TextOnly(HTMLParser):
    """Keeps the text of a document and nothing else: no tag, attribute, script or comment survives."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("• ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(html: str) -> str:
    """The words of an HTML fragment (or of plain text) with its paragraphs; markup, scripts, comments
    and control characters are gone, entities are resolved."""
    parser = _TextOnly()
    parser.feed(html)
    if parser.rawdata.lstrip().startswith("<"):
        parser.rawdata = ""  # an unfinished tag at the end: closing would hand it on as text
    parser.close()
    text = "".join(parser.parts)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    paragraphs: list[str] = []
    blank = False
    for line in lines:
        if not line:
            blank = bool(paragraphs)
            continue
        if blank:
            paragraphs.append("")
            blank = False
        paragraphs.append(line)
    return "\n".join(paragraphs)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut after the last whole sentence that fits (else at a word, with
    "…"): a resident reads complete sentences and follows the link for the rest."""
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    ends = [match.end() for match in _SENTENCE_END.finditer(window) if match.end() <= limit]
    if ends and ends[-1] >= limit // 3:
        return text[: ends[-1]].rstrip()
    cut = window.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def item_text(item: FeedItem, limit: int = TEXT_LIMIT) -> str:
    """The title, the text shortened to fit, and "Mehr:" with the link to the whole release."""
    more = f"\n\n{MORE} {item.link}" if item.link else ""
    title = plain_text(item.title)
    body = plain_text(item.body_html)
    if body.startswith(title):  # some feeds repeat the title as the first line of the text
        body = body[len(title) :].lstrip()
    head = f"{title}\n\n" if title and body else title
    room = limit - len(more) - len(head)
    return (head + shorten(body, max(room, 0))).strip() + more


def route(feed: Feed, item: FeedItem) -> tuple[str, ...]:
    """The topics an item goes to: every topic whose keywords occur in its title or text (inside longer
    words too, as German compounds such as "Vollsperrung" hold them), else the feed's `topic`."""
    if feed.topic_by_keyword:
        words = f"{plain_text(item.title)}\n{plain_text(item.body_html)}".casefold()
        matched = tuple(
            topic
            for topic, keywords in feed.topic_by_keyword.items()
            if any(keyword.casefold() in words for keyword in keywords)
        )
        if matched:
            return matched
    return tuple(feed.topic)
