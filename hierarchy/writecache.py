"""Reads of the store kept between writes: a collection's distinct labels, the segments
a label names. Each is a scan of every segment, so it is not read once per search: a
value is kept while its collection's segments are only added to, the new ones read
alone and merged in."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection
from typing import Any

import duckdb
import numpy as np

from hierarchy import nodes
from hierarchy.commits import Commits
from hierarchy.types import Level

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


class LabelReads:
    """A collection's reads of its segments' labels, each kept in a ``GrowingCache``: its
    distinct labels, the keys of the segments a label names (a label filter's evidence),
    and the segments of a result's scoring labels with their attributes."""

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection], commits: Commits) -> None:
        self._cursor = cursor
        self._commits = commits
        self._cache = GrowingCache()

    def labels(self, cid: int) -> list[str]:
        """Every label of the collection's segments, sorted."""
        read = functools.partial(nodes.distinct_labels, cid=cid)
        return list(self._grown(cid, ("labels",), read, lambda old, new: sorted({*old, *new})))

    def keys(self, cid: int, labels: list[str]) -> np.ndarray:
        """Sorted keys of the segments carrying any of ``labels``, kept label by label: a
        filter of a common label and others (unknown ones) holds no copy of its keys."""
        each = [self._grown(cid, ("keys", lb), functools.partial(nodes.labelled_keys, cid=cid, labels=[lb]), np.union1d)
                for lb in sorted(set(labels))]  # fmt: skip
        # One label (the usual filter): its kept array as it is, not sorted again per search.
        return each[0] if len(each) == 1 else functools.reduce(np.union1d, each, np.zeros(0, np.int64))

    def events(self, cid: int, labels: list[str]) -> Collection[tuple[str, int, dict[str, Any]]]:
        """(video, start, attributes) of the segments carrying any of ``labels``, each moment once."""

        def read(cur: duckdb.DuckDBPyConnection, after: int) -> dict[tuple[str, int], tuple[str, int, dict[str, Any]]]:
            return {row[:2]: row for row in nodes.labelled_events(cur, cid, labels, after=after)}

        # Kept by moment, so a write merges in its own rows (a copy of the dict: 0.4 ms at
        # 25,000 rows) where rebuilding the moments of every row took 3 ms.
        return self._grown(cid, ("events", *sorted(set(labels))), read, lambda old, new: {**old, **new}).values()

    def forget(self, cid: int) -> None:
        """Drop a deleted collection's reads."""
        self._cache.forget(cid)

    def _grown(self, cid: int, key: tuple[str, ...], read: Callable[..., Any], merge: Callable[[Any, Any], Any]) -> Any:
        rewrites = self._commits.rewrites(cid, Level.SEGMENT)  # read before the store: a later rewrite reloads
        written = self._commits.written(cid, Level.SEGMENT)
        return self._cache.get(cid, key, rewrites, written, lambda after: read(self._cursor(), after=after), merge)
