"""A collection's tree builds under way, which its linkers wait out.

Linking a vector into its level's HNSW graph makes searches of it faster; it is not what
makes it searchable (a write is searchable at its acknowledgement: scanned exactly until
linked, see hierarchy.tail). A tree build is: a video's upper levels are searchable once
its seal commits. On two cores the builds and the linker took turns: at 100 k benchmark
segments the linker held 48 % of the server's samples while videos were sealed (py-spy),
at a lower CPU priority. So a collection's linkers wait while it builds trees and for a
quiet second after (``LevelIndex``), unless a writer waits for room in the tail or the
tail nears its bound. Appends do not hold them: at a million segments a load is bound by
linking, and linking held back during its appends only came later.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_S = 1.0  # after the last build, before the linkers start


class Building:
    """Tree builds under way in one collection, and when the last of them ended."""

    def __init__(self, quiet_s: float = QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._lock = threading.Lock()
        self._running = 0
        self._ended = -math.inf

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count the block as a build under way."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._ended = time.monotonic()

    def busy(self) -> bool:
        """Whether a build is under way, or the last ended less than ``quiet_s`` ago."""
        with self._lock:
            return self._running > 0 or time.monotonic() - self._ended < self.quiet_s
