"""Vectors acknowledged but not yet linked into their level's HNSW graph.

Linking a vector into an HNSW graph is the costliest step of a write (hundreds of
distance computations per vector, over 80 % of bulk ingest time), so it happens after
the write is acknowledged, in the background (see :class:`hierarchy.index.LevelIndex`).
Until then the vector waits here and every search scans it exactly: a write is
searchable the moment it is acknowledged, and answers from the tail are exact.

The tail is append-only, oldest first, in write batches (each with the commit sequence
it carries). Readers take the current state (an immutable list of blocks and the rows in
use) and never see a half-written batch: appends write past the readers' row count before
publishing it. Removals clear the rows' flags in place; a search reads each block's flags
once.

The rows live in fixed blocks, each dropped once every row in it is linked, so a tail
never copies its rows and an emptied one holds no memory. One array grown by copying would
copy every waiting row at each growth: during a bulk load, whose tail stays near its bound
(``max_unlinked``, 100,000), 200 MB at 512-d every 50,000 rows, the old and the new array
held at once while searches read the old.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

# A block's rows, unless one write brings more: 8 MB at 512-d. A tail of 97,000 512-d rows
# was scanned in 8.5-9.5 ms in blocks of 4,096, as in one array, and 9.7-11.7 ms in blocks
# of 1,024 (a product and three slices a block).
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class _Block:
    """Rows ``first`` to ``first + len(keys)`` of the tail (counted from its creation)."""

    first: int
    keys: np.ndarray
    rows: np.ndarray  # float32, exactly as written
    norms: np.ndarray
    alive: np.ndarray  # False once removed while waiting

    @property
    def end(self) -> int:
        return self.first + len(self.keys)


@dataclass(frozen=True)
class _State:
    blocks: tuple[_Block, ...]
    start: int  # first row not yet linked
    count: int  # rows written

    def spans(self) -> list[tuple[_Block, slice]]:
        """Each block holding waiting rows, and the slice of it they fill."""
        out = []
        for block in self.blocks:
            lo, hi = max(self.start, block.first), min(self.count, block.end)
            if lo < hi:
                out.append((block, slice(lo - block.first, hi - block.first)))
        return out


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
        self._state = _State((), 0, 0)
        self._batches: deque[tuple[int, int]] = deque()  # (end row, watermark), oldest first

    def __len__(self) -> int:
        state = self._state
        return state.count - state.start

    def append(self, keys: np.ndarray, rows: np.ndarray, watermark: int) -> None:
        """Add one write's vectors (float32 rows) behind those already waiting."""
        with self._lock:
            state, blocks = self._state, list(self._state.blocks)
            at, end = state.count, state.count + len(keys)
            while at < end:
                if not blocks or blocks[-1].end <= at:
                    blocks.append(_empty(at, max(BLOCK_ROWS, end - at), self.dimension))
                block = blocks[-1]
                upto = min(end, block.end)
                into, part = slice(at - block.first, upto - block.first), slice(at - state.count, upto - state.count)
                block.keys[into] = keys[part]
                block.rows[into] = rows[part]
                block.norms[into] = np.sqrt(np.einsum("ij,ij->i", rows[part], rows[part]))
                block.alive[into] = True
                at = upto
            self._state = _State(tuple(blocks), state.start, end)
            self._batches.append((end, watermark))

    def oldest(self) -> Batch | None:
        """The oldest waiting write, or None when nothing waits."""
        with self._lock:
            if not self._batches:
                return None
            end, watermark = self._batches[0]
            state = self._state
            parts = _State(state.blocks, state.start, end).spans()
            if not parts:  # an empty write
                return Batch(np.zeros(0, np.int64), np.zeros((0, self.dimension), np.float32), watermark)
            if len(parts) == 1:  # in one block: read in place
                block, rows = parts[0]
                return Batch(block.keys[rows], block.rows[rows], watermark)
            keys = np.concatenate([block.keys[rows] for block, rows in parts])
            return Batch(keys, np.concatenate([block.rows[rows] for block, rows in parts]), watermark)

    def drop_oldest(self) -> None:
        """Forget the oldest waiting write (it is in the graph now), and the blocks it ends."""
        with self._lock:
            end, _ = self._batches.popleft()
            state = self._state
            # Nothing waiting: even the block still partly free is let go.
            kept = tuple(block for block in state.blocks if block.end > end) if end < state.count else ()
            self._state = _State(kept, end, state.count)

    def remove(self, keys: np.ndarray) -> None:
        """Mark waiting vectors of ``keys`` removed: searches skip them, linking leaves them out."""
        with self._lock:
            for block, rows in self._state.spans():
                block.alive[rows] &= ~np.isin(block.keys[rows], keys)

    def waiting(self) -> int:
        """How many vectors wait and were not removed (``len`` counts the rows held, removed
        ones too, until the linker passes them)."""
        return sum(int(np.count_nonzero(block.alive[rows])) for block, rows in self._state.spans())

    def keys(self) -> np.ndarray:
        """Keys waiting and not removed."""
        parts = self._state.spans()
        if not parts:
            return np.zeros(0, np.int64)
        return np.concatenate([block.keys[rows][block.alive[rows].copy()] for block, rows in parts])

    def clear(self) -> None:
        """Forget everything waiting (the index is being replaced)."""
        with self._lock:
            self._state = _State((), 0, 0)
            self._batches.clear()

    def scan(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every waiting vector that was not removed: (keys, dot products with ``query``,
        norms), oldest first."""
        keys, dots, norms = [], [], []
        for block, rows in self._state.spans():
            alive = block.alive[rows].copy()  # once: a removal may clear flags meanwhile
            keys.append(block.keys[rows][alive])
            dots.append((block.rows[rows] @ query)[alive])
            norms.append(block.norms[rows][alive])
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(keys), np.concatenate(dots), np.concatenate(norms)


def _empty(first: int, capacity: int, dimension: int) -> _Block:
    return _Block(
        first,
        np.zeros(capacity, np.int64),
        np.zeros((capacity, dimension), np.float32),
        np.zeros(capacity, np.float32),
        np.zeros(capacity, bool),
    )
