"""The version of a broadcast's content: what an approver approves, what the audit log names, what is sent.

A version is the SHA-256 of everything residents get from it: the text in every language, the image,
links, the topics, the kind (alert, news, digest) and the time (the time it is set for, or its repeat
rule). It is taken with a random salt that the store draws anew at every write of the content, so an
author cannot prepare two texts whose short hashes (the 12 characters on an approval button) match.
Anyone holding the stored broadcast can recompute it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import replace

from broadcasts.model import Broadcast

# 48 bits: a button stays within Telegram's 64 bytes of callback data with the longest broadcast id
# ("/freigeben digest-2026-11-30 " is 29), and guessing a salted version's short hash is hopeless.
SHORT_LENGTH = 12
SHORT_HASH = re.compile(rf"[0-9a-f]{{{SHORT_LENGTH}}}")


def versioned(broadcast: Broadcast) -> Broadcast:
    """The broadcast with a fresh salt and the version of its content."""
    salt = secrets.token_hex(8)
    return replace(broadcast, salt=salt, version=content_hash(broadcast, salt))


def content_hash(broadcast: Broadcast, salt: str) -> str:
    """The version of the broadcast's content with `salt`; a change to any part changes it."""
    time = broadcast.recurrence or (broadcast.scheduled_for.isoformat() if broadcast.scheduled_for else "")
    content = {
        "salt": salt,
        "topics": list(broadcast.topics),
        "text_de": broadcast.text_de,
        "text_en": broadcast.text_en or "",
        "image": broadcast.image or "",
        "links": list(broadcast.links),
        "kind": int(broadcast.priority),
        "time": time,
    }
    if broadcast.follows:  # only then, so that the versions of everything else stay as they were
        content["follows"] = broadcast.follows
        content["amends"] = broadcast.amends.value if broadcast.amends else ""
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def short(version: str) -> str:
    """The part of a version that buttons and typed commands carry."""
    return version[:SHORT_LENGTH]


def matches(version: str, given: str) -> bool:
    """Whether `given` (from a button or typed) names `version`: exactly its short hash, nothing less."""
    return (
        bool(version) and SHORT_HASH.fullmatch(given.lower()) is not None and short(version) == given.lower()
    )
