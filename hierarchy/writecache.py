"""Reads of the store kept until the next write: a collection's distinct labels, the
segments a label names. Each is a scan of every segment, so it is read once per write,
not once per search."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# Keys include what the caller asked for (a filter's labels), so distinct keys are bounded
# here, not by the callers: past this many, stale entries go, else the oldest one.
MAX_ENTRIES = 256


class WriteCache:
    """Values per ``(collection id, what)``, each valid while the write count it was read
    at is the current one."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._max = max_entries
        self._values: dict[tuple[int, tuple[str, ...]], tuple[int, Any]] = {}

    def get(self, cid: int, what: tuple[str, ...], stamp: int, read: Callable[[], Any]) -> Any:
        """The value kept for ``(cid, what)`` at write count ``stamp``, else ``read()``,
        kept. Two searches may read the same value at once; the later one is kept."""
        with self._lock:
            cached = self._values.get((cid, what))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        value = read()
        with self._lock:
            if len(self._values) >= self._max:
                stale = [k for k, (at, _) in self._values.items() if at != stamp]
                for key in stale or [next(iter(self._values))]:
                    del self._values[key]
            self._values[(cid, what)] = (stamp, value)
        return value

    def forget(self, cid: int) -> None:
        """Drop every value of a deleted collection."""
        with self._lock:
            for key in [key for key in self._values if key[0] == cid]:
                del self._values[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
