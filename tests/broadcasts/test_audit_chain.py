"""The audit chain as pure functions: each way of tampering is named at the entry where it shows."""

from __future__ import annotations

from broadcasts.audit_chain import Break, Link, check, seal

SECRET = b"a-secret-of-at-least-16"


def chain(count: int) -> list[tuple[str, dict[str, str]]]:
    entries, link = [], Link()
    for n in range(count):
        entry_id = f"{1_795_424_400_000 + n}-0"
        sealed = seal(
            SECRET, link, entry_id, {"who": "presse-freigabe", "action": "approve", "broadcast": str(n)}
        )
        entries.append((entry_id, sealed))
        link = Link(link.n + 1, sealed["mac"])
    return entries


def walk(entries: list[tuple[str, dict[str, str]]], secret: bytes = SECRET) -> Link | Break:
    link: Link | Break = Link()
    for entry_id, fields in entries:
        assert isinstance(link, Link)
        link = check(secret, link, entry_id, fields)
        if isinstance(link, Break):
            return link
    return link


def test_an_intact_chain_holds() -> None:
    entries = chain(5)
    assert walk(entries) == Link(5, entries[-1][1]["mac"])


def test_a_changed_field_breaks_at_that_entry() -> None:
    entries = chain(5)
    entries[2][1]["who"] = "presse-redaktion"
    broken = walk(entries)
    assert isinstance(broken, Break)
    assert (broken.entry_id, broken.n) == (entries[2][0], 3)
    assert broken.reason.startswith("its keyed hash does not match")


def test_a_deleted_entry_breaks_at_the_next() -> None:
    entries = chain(5)
    del entries[1]
    broken = walk(entries)
    assert broken == Break(entries[1][0], 3, "the entry before it (#2) is missing: deleted")


def test_a_moved_entry_breaks_because_its_time_is_sealed() -> None:
    entries = chain(3)
    entries[2] = ("1795424500000-0", entries[2][1])  # the same entry, another time
    assert isinstance(walk(entries), Break)


def test_a_replayed_entry_and_an_unsigned_one_are_named() -> None:
    entries = chain(3)
    replayed = walk([*entries, ("1795424500000-0", entries[1][1])])
    assert replayed == Break("1795424500000-0", 2, "it repeats number #2 after #3: copied or replayed")
    unsigned = walk([*entries, ("1795424500000-0", {"who": "x", "action": "approve"})])
    assert unsigned == Break(
        "1795424500000-0", None, "it carries no keyed hash: it was not written by stadtfunk"
    )


def test_another_secret_breaks_at_the_first_entry() -> None:
    entries = chain(2)
    broken = walk(entries, b"another-secret-16-bytes")
    assert isinstance(broken, Break)
    assert broken.entry_id == entries[0][0]
