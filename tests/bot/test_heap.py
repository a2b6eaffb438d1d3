"""Once started, the service keeps what startup built out of the collector's passes."""

from __future__ import annotations

import json
import subprocess
import sys

from bot.heap import YOUNG_THRESHOLD

# In a process of its own: freezing the test runner's heap would outlive this test.
PROBE = """
import gc, json
from bot.heap import settle_after_start
before = gc.get_threshold()
settle_after_start()
print(json.dumps({"frozen": gc.get_freeze_count(), "before": before, "after": gc.get_threshold()}))
"""


def test_settling_freezes_what_startup_built_and_collects_the_young_less_often() -> None:
    probe = [sys.executable, "-c", PROBE]
    out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout  # noqa: S603 (our own code)
    figures = json.loads(out)
    assert figures["frozen"] > 1000  # the modules imported so far, at least
    assert figures["after"] == [YOUNG_THRESHOLD, *figures["before"][1:]]
