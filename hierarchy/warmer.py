"""Reading ahead, once writes settle, what the next search of a collection would read.

A search reads each level's spans and calibration statistics when the level has changed
since they were read. After a bulk load that made the first search pay for all of it:
at 100,000 segments it took 278 ms (the segment level's statistics 200 ms, five levels'
spans 74 ms) against 3 ms for the next. The database pokes the warmer after every
committed write; once a collection has had no write for ``quiet`` seconds, a background
thread at a lower CPU priority (as the index linker) reads the spans, brings the
statistics up to date, catches up the scan copies of small levels already searched, and
decodes the attributes of a small collection's moments, scenes and drives (which a
routed search naming a side reads), so the next search finds them read. During a long
load no read is made: each would be stale at the next write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from hierarchy import process
from hierarchy.errors import NotFound

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0
NICENESS = 5

K = TypeVar("K")


class Warmer(Generic[K]):
    """Calls ``warm(item)`` in a background thread once ``item`` has not been poked for
    ``quiet`` seconds; one thread at a time, started when there is work."""

    def __init__(self, warm: Callable[[K], None], quiet: float = QUIET_SECONDS) -> None:
        self._warm = warm
        self._quiet = quiet
        self._lock = threading.Lock()
        self._due: dict[K, float] = {}  # item -> monotonic time it may be warmed
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.warmed = 0

    def poke(self, item: K) -> None:
        """``item`` was written: warm it once it has been quiet for a while."""
        with self._lock:
            if self._stop.is_set():
                return
            self._due[item] = time.monotonic() + self._quiet
            # The thread clears its handle under this lock when it finds nothing due, so
            # either it sees this item or a new thread is started here.
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="strata-warmer", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Warm nothing more; wait for a warm under way."""
        with self._lock:
            self._stop.set()
            self._due.clear()
            thread = self._thread
        if thread is not None:
            thread.join()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is due or being warmed (tests, benchmarks); whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._thread is None:
                    return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        process.run_in_background(NICENESS)
        try:
            self._warm_due()
        finally:  # stopped (or failed): the next poke starts another
            with self._lock:
                if self._thread is threading.current_thread():  # (cleared when nothing was due)
                    self._thread = None

    def _warm_due(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._due:
                    self._thread = None
                    return
                now = time.monotonic()
                ready = [item for item, at in self._due.items() if at <= now]
                for item in ready:
                    del self._due[item]
                wait = min(self._due.values(), default=now) - now
            for item in ready:
                if self._stop.is_set():
                    return
                try:
                    self._warm(item)
                    self.warmed += 1
                except NotFound:  # deleted since it was written
                    pass
                except Exception:  # noqa: BLE001 - a search reads it itself; nothing is lost
                    log.warning("reading ahead for %r failed", item, exc_info=True)
            if not ready:
                self._stop.wait(wait)
