"""Vectors acknowledged but not yet linked into their level's HNSW graph.

Linking a vector into an HNSW graph is the costliest step of a write (hundreds of
distance computations per vector, over 80 % of bulk ingest time), so it happens after
the write is acknowledged, in the background (see :class:`hierarchy.index.LevelIndex`).
Until then the vector waits here and every search scans it exactly: a write is
searchable the moment it is acknowledged, and answers from the tail are exact.

The tail is append-only, oldest first, in write batches (each with the commit sequence
it carries). Readers take the current state (an immutable view of the arrays) and never
see a half-written batch: appends write past the readers' row count before publishing
it, and growing copies into new arrays.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

_GROWTH = 1.5


@dataclass(frozen=True)
class _State:
    keys: np.ndarray
    rows: np.ndarray  # float32, exactly as written
    norms: np.ndarray
    alive: np.ndarray  # False once removed while waiting
    start: int  # first row not yet linked
    count: int  # rows written


@dataclass(frozen=True)
class Batch:
    """One write's vectors waiting to be linked."""

    keys: np.ndarray
    rows: np.ndarray
    watermark: int


class UnlinkedTail:
    """Written vectors waiting for the graph, searched exactly meanwhile."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._lock = threading.Lock()
        self._state = _empty(dimension, 0)
        self._batches: deque[tuple[int, int]] = deque()  # (end row, watermark), oldest first

    def __len__(self) -> int:
        state = self._state
        return state.count - state.start

    def append(self, keys: np.ndarray, rows: np.ndarray, watermark: int) -> None:
        """Add one write's vectors (float32 rows) behind those already waiting."""
        with self._lock:
            state = self._state
            needed = state.count + len(keys)
            if needed > len(state.keys):
                state = self._regrown(state, len(keys))
            end = state.count + len(keys)
            state.keys[state.count : end] = keys
            state.rows[state.count : end] = rows
            state.norms[state.count : end] = np.sqrt(np.einsum("ij,ij->i", rows, rows))
            state.alive[state.count : end] = True
            self._state = _State(state.keys, state.rows, state.norms, state.alive, state.start, end)
            self._batches.append((end, watermark))

    def oldest(self) -> Batch | None:
        """The oldest waiting write, or None when nothing waits."""
        with self._lock:
            if not self._batches:
                return None
            state, (end, watermark) = self._state, self._batches[0]
            span = slice(state.start, end)
            return Batch(state.keys[span], state.rows[span], watermark)

    def drop_oldest(self) -> None:
        """Forget the oldest waiting write (it is in the graph now)."""
        with self._lock:
            end, _ = self._batches.popleft()
            state = self._state
            self._state = _State(state.keys, state.rows, state.norms, state.alive, end, state.count)

    def remove(self, keys: np.ndarray) -> None:
        """Mark waiting vectors of ``keys`` removed: searches skip them, linking leaves them out."""
        with self._lock:
            state = self._state
            waiting = slice(state.start, state.count)
            state.alive[waiting] &= ~np.isin(state.keys[waiting], keys)

    def keys(self) -> np.ndarray:
        """Keys waiting and not removed."""
        state = self._state
        waiting = slice(state.start, state.count)
        return state.keys[waiting][state.alive[waiting]]

    def clear(self) -> None:
        """Forget everything waiting (the index is being replaced)."""
        with self._lock:
            self._state = _empty(self.dimension, 0)
            self._batches.clear()

    def scan(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every waiting vector that was not removed: (keys, dot products with ``query``,
        norms), oldest first."""
        state = self._state
        waiting = slice(state.start, state.count)
        keys, alive = state.keys[waiting], state.alive[waiting]
        if len(keys) == 0:
            return keys, np.zeros(0, np.float32), np.zeros(0, np.float32)
        dots = state.rows[waiting] @ query
        return keys[alive], dots[alive], state.norms[waiting][alive]

    def _regrown(self, state: _State, extra: int) -> _State:
        """New arrays holding the waiting rows (linked ones dropped) with room for ``extra``."""
        waiting = slice(state.start, state.count)
        live = state.count - state.start
        grown = _empty(self.dimension, max(int((live + extra) * _GROWTH), 1024))
        grown.keys[:live] = state.keys[waiting]
        grown.rows[:live] = state.rows[waiting]
        grown.norms[:live] = state.norms[waiting]
        grown.alive[:live] = state.alive[waiting]
        self._batches = deque((end - state.start, mark) for end, mark in self._batches)
        return _State(grown.keys, grown.rows, grown.norms, grown.alive, 0, live)


def _empty(dimension: int, capacity: int) -> _State:
    return _State(
        np.zeros(capacity, np.int64),
        np.zeros((capacity, dimension), np.float32),
        np.zeros(capacity, np.float32),
        np.zeros(capacity, bool),
        0,
        0,
    )
