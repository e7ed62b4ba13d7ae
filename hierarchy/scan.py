"""A float32 copy of a small level's rows, scored by one matrix product per search.

A level under ``exact_below`` is ranked by scoring every row. USearch's exact search
over the half-float table does that at 1.1 ms for 8,743 512-d rows, but two threads
calling it take twice as long as one (measured: speed-up 0.5), so concurrent searches
queue on it. numpy's matrix product releases the GIL: over a float32 copy it scores the
same rows in 0.65 ms on one BLAS thread, and two threads run side by side (speed-up
2.6). The copy costs four bytes a value, only while the level is small enough to scan
(at most ``exact_below`` rows: 41 MB at 20,000 512-d rows), and half floats widen to
float32 exactly, so the scores are those of the half-float rows.

The keys a filter names (a video's rows, a parent's children) are scored from the copy
too (``Scan.among``), so an answer scores the same found either way, and USearch's
exact search, one call in the process at a time, is left to levels too large to scan:
a routed soccer search, which scores a video's scenes and segments, went from 2.3 to
1.8 ms.

The copy follows the table: rows appended since the last scan are widened and added;
a rebuild of the table (rows moved) starts it over. Readers share it under a lock held
only while it catches up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from hierarchy.vectortable import VectorTable

_GROWTH = 1.5


@dataclass(frozen=True)
class _Copy:
    layout: int
    count: int
    rows: np.ndarray  # float32; rows [0, count) copy the table's
    norms: np.ndarray


@dataclass(frozen=True)
class Scan:
    """Every row of a table, widened: score with ``rows @ query``."""

    keys: np.ndarray
    alive: np.ndarray
    rows: np.ndarray
    norms: np.ndarray

    def among(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(those of ``keys`` still present, in the order given; their rows; their norms).
        A run of consecutive rows (one video's) is read in place."""
        keys = np.asarray(keys, np.int64)
        if not len(self.keys) or not len(keys):
            return keys[:0], self.rows[:0], self.norms[:0]
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        live = (self.keys[at] == keys) & self.alive[at]
        at = at[live]
        if len(at) and at[-1] - at[0] == len(at) - 1 and np.all(np.diff(at) == 1):
            run = slice(int(at[0]), int(at[-1]) + 1)
            return keys[live], self.rows[run], self.norms[run]
        return keys[live], self.rows[at], self.norms[at]


class ScanCopy:
    """The float32 rows of one :class:`VectorTable`, kept up to date on demand."""

    def __init__(self, table: VectorTable) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._copy: _Copy | None = None

    def current(self) -> Scan:
        """Every row of the table as it is now (appends caught up, a rebuild redone)."""
        state = self._table.in_place()
        count = len(state.keys)
        with self._lock:
            copy = self._copy
            if copy is None or copy.layout < state.layout:
                copy = _empty(state.layout, self._table.dimension)
            if copy.layout == state.layout:
                # A copy caught up further by another search holds these rows too.
                if copy.count < count:
                    copy = _caught_up(copy, state.parts, count)
                self._copy = copy
        if copy.layout != state.layout:  # the table was rebuilt since this state was read
            copy = _caught_up(_empty(state.layout, self._table.dimension), state.parts, count)
        return Scan(state.keys, state.alive, copy.rows[:count], copy.norms[:count])

    def release(self) -> None:
        """Drop the copy (the level outgrew scanning); the next :meth:`current` rebuilds it."""
        with self._lock:
            self._copy = None

    @property
    def held(self) -> bool:
        """Whether a copy is held."""
        return self._copy is not None


def _empty(layout: int, dimension: int) -> _Copy:
    return _Copy(layout, 0, np.zeros((0, dimension), np.float32), np.zeros(0, np.float32))


def _caught_up(copy: _Copy, parts: list[tuple[int, np.ndarray]], count: int) -> _Copy:
    """``copy`` with the table's rows from ``copy.count`` up to ``count`` widened into it."""
    rows, norms = copy.rows, copy.norms
    if count > len(rows):  # grow into new arrays: scans under way keep reading the old
        capacity = max(count, int(len(rows) * _GROWTH), 1024)
        rows = np.concatenate([rows[: copy.count], np.zeros((capacity - copy.count, rows.shape[1]), np.float32)])
        norms = np.concatenate([norms[: copy.count], np.zeros(capacity - copy.count, np.float32)])
    for first, block in parts:
        lo, hi = max(first, copy.count), min(first + len(block), count)
        if lo < hi:
            rows[lo:hi] = block[lo - first : hi - first]
            norms[lo:hi] = np.sqrt(np.einsum("ij,ij->i", rows[lo:hi], rows[lo:hi]))
    return _Copy(copy.layout, count, rows, norms)
