"""Reads of the store kept between writes: a collection's distinct labels, the segments
a label names. Each is a scan of every segment, so it is not read once per search: a
value is kept while its collection's segments are only added to, the new ones read
alone and merged in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# Keys include what the caller asked for (a filter's labels), so distinct keys are bounded
# here, not by the callers: past this many, the oldest goes.
MAX_ENTRIES = 256


class GrowingCache:
    """Values per ``(collection id, what)`` read from a collection's segments and grown
    by the segments written since, as level spans are (``hierarchy.spans.SpanCache``):
    valid while no segment of the collection was rewritten or deleted (its ``rewrites``
    count); commits that only added segments are read on their own and merged in. At
    200,000 segments the segments of one label took 16 ms to read, those written by one
    commit 1 ms; and a write to one collection leaves the others' values as they are."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._max = max_entries
        self._values: dict[tuple[int, tuple[str, ...]], tuple[int, int, Any]] = {}

    def get(
        self,
        cid: int,
        what: tuple[str, ...],
        rewrites: int,
        sequence: int,
        read: Callable[[int], Any],
        merge: Callable[[Any, Any], Any],
    ) -> Any:
        """The value of ``(cid, what)`` holding every commit up to ``sequence``.
        ``read(after)`` gives the value of the segments written after commit ``after``
        (-1: all of them); ``merge(old, new)`` joins two, and must take a segment twice
        as once (one committed after ``sequence`` was taken is read again next time)."""
        with self._lock:
            found = self._values.get((cid, what))
        if found is not None and found[0] == rewrites:
            _, covered, value = found
            if covered >= sequence:
                return value
            # Commits to a collection land in sequence order: past ``covered`` every
            # segment is new to the value.
            value = merge(value, read(covered))
        else:
            value = read(-1)
        with self._lock:
            if (cid, what) not in self._values and len(self._values) >= self._max:
                del self._values[next(iter(self._values))]  # the oldest
            self._values[(cid, what)] = (rewrites, sequence, value)
        return value

    def forget(self, cid: int) -> None:
        """Drop every value of a deleted collection."""
        with self._lock:
            for key in [key for key in self._values if key[0] == cid]:
                del self._values[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
