"""The garbage collector set for a long-running service that takes thousands of webhooks a second.

CPython's defaults collect the young generation after every 700 net allocations and, now and then, walk
every object the process holds. Under webhook load the requests in flight survive young collections again
and again, and a full collection walks all that startup built (modules, the city, the clients) as well: in
the webhook benchmark driven past its limit, collections took a seventh of the server's CPU, and a full
one paused it for up to a quarter of a second.
"""

from __future__ import annotations

import gc

# Net allocations between young collections: most of a request's objects are freed by their reference
# counts before a collection comes, so fewer collections walk fewer survivors. A collection of this many
# objects still takes about a millisecond.
YOUNG_THRESHOLD = 10_000


def settle_after_start() -> None:
    """Called once startup is done: what exists now lives as long as the process, so the collector leaves
    it alone from here on (gc.freeze), and young collections come less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
