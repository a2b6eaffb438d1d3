"""Finding what a person meant: topics by id or name, FAQ entries by keyword.

Matching is forgiving in the ways people type on phones: case, umlauts written as "ae",
"ß" as "ss", extra spaces and punctuation.
"""

from __future__ import annotations

import re
import unicodedata

from city.config import City, FaqEntry, Topic

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
MIN_PREFIX = 3


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFC", text).casefold().translate(_UMLAUTS)
    # Strip accents that remain after the German umlauts are spelled out (é -> e).
    ascii_only = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return _NON_WORD.sub(" ", ascii_only).strip()


def find_topic(city: City, query: str) -> Topic | None:
    """A topic by id or German or English name; a unique prefix of at least three letters also counts."""
    wanted = normalize(query)
    if not wanted:
        return None
    names = {topic.id: _topic_names(topic) for topic in city.topics}
    exact = [topic for topic in city.topics if wanted in names[topic.id]]
    if exact:
        return exact[0]
    if len(wanted) < MIN_PREFIX:
        return None
    prefixed = [t for t in city.topics if any(name.startswith(wanted) for name in names[t.id])]
    return prefixed[0] if len(prefixed) == 1 else None


def _topic_names(topic: Topic) -> set[str]:
    names = {normalize(topic.id), normalize(topic.name.de)}
    if topic.name.en:
        names.add(normalize(topic.name.en))
    return names


def find_faq(city: City, query: str) -> FaqEntry | None:
    """The entry whose keywords and question share the most words with the query, if any."""
    words = set(normalize(query).split())
    if not words:
        return None
    best: tuple[int, FaqEntry] | None = None
    for entry in city.faq:
        keywords = {normalize(k) for k in entry.keywords}
        question = set(normalize(entry.question.de).split()) | set(normalize(entry.question.en or "").split())
        # A keyword hit weighs more than a shared word of the question.
        score = 3 * sum(1 for w in words if _hits(w, keywords)) + len(words & question)
        if score and (best is None or score > best[0]):
            best = (score, entry)
    return best[1] if best else None


def _hits(word: str, keywords: set[str]) -> bool:
    return any(word == k or (len(word) >= MIN_PREFIX + 1 and k.startswith(word)) for k in keywords)
