"""How a broadcast reads in a resident's messenger, in their language: the layout only.

The words (the header's label, the topics' names) come from the caller, since the catalogs they live in
belong to the conversation above this package (handlers/rendering.py fills them in).
"""

from __future__ import annotations

from collections.abc import Callable

from broadcasts.model import Broadcast


def render(broadcast: Broadcast, language: str, label: str, topic_name: Callable[[str, str], str]) -> str:
    """Header (the label, such as the alert mark, and the topics), the text in the resident's language, then
    the links."""
    names = ", ".join(topic_name(topic_id, language) for topic_id in broadcast.topics)
    header = f"{label} {names}".strip()
    parts = [header, broadcast.text(language)]
    if broadcast.links:
        parts.append("\n".join(f"🔗 {link}" for link in broadcast.links))
    return "\n\n".join(parts)


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, then line, then word boundaries so that no part exceeds the messenger's limit."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        cut = cut if cut > limit // 2 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts
