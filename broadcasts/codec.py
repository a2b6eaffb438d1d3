"""A broadcast as the fields of its Redis hash, and back (the hash itself is broadcasts/store.py's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from broadcasts.model import Amendment, Broadcast, Hold, Priority, State

# What residents get from a broadcast, written only while it is a draft, always with a new version.
CONTENT = (
    "topics",
    "text_de",
    "text_en",
    "image",
    "links",
    "priority",
    "scheduled_for",
    "recurrence",
    "version",
    "salt",
    "approved",
    "approved_by",
    "follows",
    "amends",
)


def fields_of(broadcast: Broadcast) -> dict[str, Any]:
    return {name: getattr(broadcast, name) for name in Broadcast.__dataclass_fields__}


def encode(broadcast: Broadcast) -> dict[str, str]:
    """Every field that has a value; empty optional ones are left out."""
    fields = {
        "topics": ",".join(broadcast.topics),
        "text_de": broadcast.text_de,
        "author": broadcast.author,
        "created_at": broadcast.created_at.isoformat(),
        "priority": str(int(broadcast.priority)),
        "state": broadcast.state.value,
        "needs_review": "1" if broadcast.needs_review else "0",
        "escalated": "1" if broadcast.escalated else "0",
        "links": "\n".join(broadcast.links),
        "approver_paused": "1" if broadcast.approver_paused else "0",
    }
    optional = {
        "text_en": broadcast.text_en,
        "image": broadcast.image,
        "recurrence": broadcast.recurrence,
        "version": broadcast.version,
        "salt": broadcast.salt,
        "approved": broadcast.approved,
        "approved_by": broadcast.approved_by,
        "paused_by": broadcast.paused_by,
        "follows": broadcast.follows,
        "amends": broadcast.amends.value if broadcast.amends else "",
        "amended_by": broadcast.amended_by,
    }
    fields.update({k: v for k, v in optional.items() if v})
    for name in ("scheduled_for", "since"):
        if (moment := getattr(broadcast, name)) is not None:
            fields[name] = moment.isoformat()
    if broadcast.held is not None:
        fields["held"] = broadcast.held.value
    return fields


def content(broadcast: Broadcast) -> tuple[dict[str, str], list[str]]:
    """The content fields to write, and those to delete because the new content leaves them empty."""
    encoded = encode(broadcast)
    written = {name: encoded[name] for name in CONTENT if name in encoded}
    return written, [name for name in CONTENT if name not in written]


def decode(broadcast_id: str, raw: Mapping[str, str]) -> Broadcast:
    fields = cast(dict[str, str], raw)
    return Broadcast(
        id=broadcast_id,
        topics=tuple(fields["topics"].split(",")),
        text_de=fields["text_de"],
        author=fields["author"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        priority=Priority(int(fields["priority"])),
        text_en=fields.get("text_en"),
        image=fields.get("image"),
        links=tuple(line for line in fields.get("links", "").split("\n") if line),
        state=State(fields["state"]),
        needs_review=fields.get("needs_review") == "1",
        escalated=fields.get("escalated") == "1",
        scheduled_for=time_of(fields.get("scheduled_for")),
        recurrence=fields.get("recurrence"),
        since=time_of(fields.get("since")),
        held=Hold(fields["held"]) if fields.get("held") else None,
        version=fields.get("version", ""),
        salt=fields.get("salt", ""),
        approved=fields.get("approved", ""),
        approved_by=fields.get("approved_by", ""),
        paused_by=fields.get("paused_by", ""),
        approver_paused=fields.get("approver_paused") == "1",
        follows=fields.get("follows", ""),
        amends=Amendment(fields["amends"]) if fields.get("amends") else None,
        amended_by=fields.get("amended_by", ""),
    )


def time_of(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def mapping(fields: dict[str, str]) -> Mapping[Any, Any]:
    """redis-py types hash mappings invariantly; this one is plain text."""
    return fields
