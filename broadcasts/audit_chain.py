"""The keyed hash chain that makes the audit log tamper-evident, as pure functions.

Each entry's hash is an HMAC-SHA256 (AUDIT_HMAC_SECRET) over the previous entry's hash, the entry's own
stream id (its time) and its fields. Whoever changes, deletes, reorders or back-dates an entry, or adds
one without the secret, breaks the chain at that entry; `check` names the first entry where it breaks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

MAC_FIELD = "mac"
SEQUENCE_FIELD = "n"


@dataclass(frozen=True, slots=True)
class Link:
    """Where the chain stands after an entry: its number and keyed hash."""

    n: int = 0
    mac: str = ""


@dataclass(frozen=True, slots=True)
class Break:
    """The first entry at which the chain does not hold, and why, for an operator."""

    entry_id: str
    n: int | None
    reason: str


def seal(secret: bytes, previous: Link, entry_id: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The fields to store for a new entry: numbered after `previous` and chained to it."""
    numbered = {**fields, SEQUENCE_FIELD: str(previous.n + 1)}
    return {**numbered, MAC_FIELD: mac(secret, previous.mac, entry_id, numbered)}


def mac(secret: bytes, previous_mac: str, entry_id: str, fields: Mapping[str, str]) -> str:
    body = {name: value for name, value in fields.items() if name != MAC_FIELD}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    message = f"{previous_mac}\n{entry_id}\n{canonical}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check(secret: bytes, previous: Link, entry_id: str, fields: Mapping[str, str]) -> Link | Break:
    """The chain's next link if the entry belongs where it stands, else where and why it breaks."""
    number = fields.get(SEQUENCE_FIELD, "")
    stored = fields.get(MAC_FIELD, "")
    if not number.isdecimal() or not stored:
        return Break(entry_id, None, "it carries no keyed hash: it was not written by stadtfunk")
    n = int(number)
    if n > previous.n + 1:
        missing = f"#{previous.n + 1}" if n == previous.n + 2 else f"#{previous.n + 1}–#{n - 1}"
        return Break(entry_id, n, f"the entry before it ({missing}) is missing: deleted")
    if n <= previous.n:
        return Break(entry_id, n, f"it repeats number #{n} after #{previous.n}: copied or replayed")
    if not hmac.compare_digest(stored, mac(secret, previous.mac, entry_id, fields)):
        return Break(
            entry_id,
            n,
            "its keyed hash does not match: it was changed, back-dated or written without "
            "AUDIT_HMAC_SECRET (or the secret differs from the one it was written with)",
        )
    return Link(n, stored)
