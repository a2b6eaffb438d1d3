"""Deliveries a sender holds in memory for a later try, per broadcast, soonest first.

A delivery waits here when the platform asked it to (a 429's retry_after, a spam limit), after a server
error (with backoff), when its grant came too late to use, or when a step failed before it went out. It
stays claimed in Redis meanwhile, so a crash loses nothing: a restart takes it up again from the pending
list.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from broadcasts.queue import Delivery

# Clocks tick in microseconds; a due time a hair ahead is due.
DUE_SLACK_S = 1e-6


@dataclass(order=True, slots=True)
class _Retry:
    due: float
    seq: int
    delivery: Delivery = field(compare=False)


class Retries:
    def __init__(self) -> None:
        self._heaps: dict[str, list[_Retry]] = {}
        self._waiting: set[str] = set()  # entry ids in the heaps
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._waiting

    def add(self, delivery: Delivery, due: float) -> None:
        """Try `delivery` again at `due` (the clock's epoch seconds; 0 for as soon as its turn comes)."""
        self._waiting.add(delivery.entry_id)
        heap = self._heaps.setdefault(delivery.broadcast_id, [])
        heapq.heappush(heap, _Retry(due, next(self._seq), delivery))

    def next_due(self, broadcast_id: str) -> float | None:
        """When the broadcast's first retry is due; None when none waits."""
        heap = self._heaps.get(broadcast_id)
        return heap[0].due if heap else None

    def is_due(self, broadcast_id: str, now: float) -> bool:
        first = self.next_due(broadcast_id)
        return first is not None and first <= now + DUE_SLACK_S

    def take_due(self, broadcast_id: str, now: float, limit: int) -> list[Delivery]:
        """Up to `limit` of the broadcast's retries that are due, soonest first; they no longer wait."""
        taken: list[Delivery] = []
        heap = self._heaps.get(broadcast_id, [])
        while heap and heap[0].due <= now + DUE_SLACK_S and len(taken) < limit:
            delivery = heapq.heappop(heap).delivery
            self._waiting.discard(delivery.entry_id)
            taken.append(delivery)
        return taken

    def forget(self, broadcast_id: str) -> None:
        """Drop what waits for a broadcast (it ended, or is to be read again from Redis, the truth)."""
        for waiting in self._heaps.pop(broadcast_id, []):
            self._waiting.discard(waiting.delivery.entry_id)

    def take_all(self) -> dict[str, list[Delivery]]:
        """Everything that waits, by broadcast, and wait for nothing more: to hand back on shutdown."""
        everything = {broadcast_id: [r.delivery for r in heap] for broadcast_id, heap in self._heaps.items()}
        self._heaps.clear()
        self._waiting.clear()
        return everything
