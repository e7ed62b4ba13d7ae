"""A collection's bulk work (large appends, tree builds), which its linkers wait out.

Linking a vector into its level's HNSW graph makes searches of it faster; it is not what
makes it searchable (a write is searchable at its acknowledgement: scanned exactly until
linked, see hierarchy.tail). On two cores, a bulk load's own work and the linker took
turns: at 100 k benchmark segments, the linker held 41 % of the server's samples while
segments were acknowledged and 48 % while videos were sealed (py-spy), and a lower CPU
priority alone did not hand the cores over. So a collection's linkers wait while it takes
bulk work and for a quiet second after (``LevelIndex``), unless a writer waits for room
in the tail or the tail nears its bound: there they link as before, beside the writes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_S = 1.0  # after the last bulk work, before the linkers start


class BulkWork:
    """Bulk work under way in one collection, and when the last of it ended."""

    def __init__(self, quiet_s: float = QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._lock = threading.Lock()
        self._running = 0
        self._ended = -math.inf

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count the block as bulk work under way."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._ended = time.monotonic()

    def busy(self) -> bool:
        """Whether bulk work is under way, or ended less than ``quiet_s`` ago."""
        with self._lock:
            return self._running > 0 or time.monotonic() - self._ended < self.quiet_s
