"""An in-memory copy of one level's vectors in key order.

USearch hands vectors back one key at a time (a Python object per key), which makes
exact scoring of a filtered subset (one video's 3,000 segments) cost more than the
search itself. This table keeps the same vectors, at the index's precision, in one
array sorted by key: any subset is a ``searchsorted`` and a gather.

Rows live in fixed blocks of ``BLOCK_ROWS``: the table grows by a block at a time and
never copies what it holds (one regrown array meant, for a moment, the old and the new
array side by side: 1.7 GB of half floats at a million 512-d rows).

Writers are serialised by the owning index; readers take the current state (an
immutable tuple of arrays) and never see a half-applied change: appends write past the
readers' row count before publishing the new count, and every reshaping builds new
arrays and swaps them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_GROWTH = 1.5
# The table's precision for each graph precision: a quantized graph's table keeps half
# floats, which rank its candidates as an unquantized graph would.
TABLE_DTYPES = {"f16": np.float16, "i8": np.float16, "f32": np.float32, "f64": np.float64}
_BLOCK_SHIFT = 15
BLOCK_ROWS = 1 << _BLOCK_SHIFT  # rows per block of vectors (32 MiB of 512-d half floats)
_COMPACT_DEAD = 0.25  # rebuild the arrays once a quarter of the rows are removed ones


@dataclass(frozen=True)
class _State:
    keys: np.ndarray  # sorted over [0, count)
    blocks: tuple[np.ndarray, ...]  # row i is blocks[i // BLOCK_ROWS][i % BLOCK_ROWS]
    alive: np.ndarray
    count: int
    dead: int
    layout: int = 0  # changes whenever rows move (a rebuild); appends and removals keep it


@dataclass(frozen=True)
class Rows:
    """The stored rows as views of their blocks: for a scan of every row that copies none."""

    keys: np.ndarray  # by row
    alive: np.ndarray  # which rows are not removed (a copy: a writer may clear flags meanwhile)
    parts: list[tuple[int, np.ndarray]]  # (first row, rows)
    layout: int  # rows below ``len(keys)`` keep their positions while this stays the same


class VectorTable:
    """Vectors by key, for gathering any subset at once."""

    def __init__(self, dimension: int, dtype: type = np.float16) -> None:
        self.dimension = dimension
        self.dtype = dtype
        self._state = _State(np.zeros(0, np.int64), (), np.zeros(0, bool), 0, 0)

    def __len__(self) -> int:
        state = self._state
        return state.count - state.dead

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows; keys already present are left as they are (as the index does)."""
        keys = np.asarray(keys, np.int64)
        if len(keys) == 0:
            return
        vectors = np.asarray(vectors)
        if len(vectors) != len(keys):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        state = self._state
        # A write's keys come new and in order: its rows are taken as given, not gathered
        # again to leave out repeated or stored keys.
        if not bool(np.all(keys[1:] > keys[:-1])) or self._present(state, keys).any():
            keys, first = np.unique(keys, return_index=True)  # sorted, each key once
            fresh = ~self._present(state, keys)
            keys, vectors = keys[fresh], vectors[first][fresh]
        if len(keys) == 0:
            return
        in_order = state.count == 0 or keys[0] > state.keys[state.count - 1]
        if in_order:
            self._append(state, keys, vectors)
        else:
            live = np.flatnonzero(state.alive[: state.count])
            self._rebuild(
                np.concatenate([state.keys[live], keys]),
                np.concatenate([self._gather(state, live), vectors.astype(self.dtype)]),
            )

    def remove(self, keys: np.ndarray) -> int:
        """Forget rows (absent keys are ignored); how many were forgotten."""
        state = self._state
        at, found = self._find(state, np.asarray(keys, np.int64))
        at = np.unique(at[self._live(state, at, found)])
        if len(at) == 0:
            return 0
        state.alive[at] = False
        dead = state.dead + len(at)
        if dead > _COMPACT_DEAD * state.count:
            live = np.flatnonzero(state.alive[: state.count])
            self._rebuild(state.keys[live], self._gather(state, live))
        else:
            self._state = _State(state.keys, state.blocks, state.alive, state.count, dead, state.layout)
        return len(at)

    def clear(self) -> None:
        """Drop every row."""
        self._rebuild(np.zeros(0, np.int64), np.zeros((0, self.dimension), self.dtype))

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of ``keys`` holds a row (a boolean mask, in the order given)."""
        return self._present(self._state, np.asarray(keys, np.int64))

    def rows_of(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the keys present, their rows at the stored precision), in the order given."""
        state = self._state
        keys = np.asarray(keys, np.int64)
        at, found = self._find(state, keys)
        at = at[self._live(state, at, found)]
        return state.keys[at], self._gather(state, at)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Float32 rows of ``keys``, in the order given; KeyError if one is missing."""
        state = self._state
        keys = np.asarray(keys, np.int64)
        at, found = self._find(state, keys)
        live = self._live(state, at, found)
        if not np.all(live):
            raise KeyError(f"no vector for keys {keys[~live][:3].tolist()}")
        return self._gather(state, at).astype(np.float32)

    def get_present(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(whether each key holds a row, the float32 rows of those that do), in the order
        given."""
        state = self._state
        at, found = self._find(state, np.asarray(keys, np.int64))
        live = self._live(state, at, found)
        return live, self._gather(state, at[live]).astype(np.float32)

    def in_place(self) -> Rows:
        """Every stored row where it lies, with its key and whether it is alive."""
        state = self._state
        alive = state.alive[: state.count].copy()
        parts = []
        for i, block in enumerate(state.blocks):
            rows = min(BLOCK_ROWS, state.count - i * BLOCK_ROWS)
            if rows <= 0:
                break
            parts.append((i * BLOCK_ROWS, block[:rows]))
        return Rows(state.keys[: state.count], alive, parts, state.layout)

    def sample(self, limit: int, seed: int = 0) -> np.ndarray:
        """Up to ``limit`` float32 rows chosen at random (all when fewer)."""
        state = self._state
        # A copy first: a writer may clear flags meanwhile, and numpy's nonzero counts the
        # flags before it collects them (fewer found leaves garbage positions).
        live = np.flatnonzero(state.alive[: state.count].copy())
        if len(live) > limit:
            live = np.sort(np.random.default_rng(seed).choice(live, size=limit, replace=False))
        return self._gather(state, live).astype(np.float32)

    def _append(self, state: _State, keys: np.ndarray, vectors: np.ndarray) -> None:
        needed = state.count + len(keys)
        if needed > len(state.keys):
            capacity = max(needed, int(len(state.keys) * _GROWTH), 1024)
            state = _State(
                _grow(state.keys, capacity),
                state.blocks,
                _grow(state.alive, capacity),
                state.count,
                state.dead,
                state.layout,
            )
        blocks = _with_room(state.blocks, needed, self.dimension, self.dtype)
        end = state.count + len(keys)
        state.keys[state.count : end] = keys
        _put(blocks, state.count, np.asarray(vectors))
        state.alive[state.count : end] = True
        self._state = _State(state.keys, blocks, state.alive, end, state.dead, state.layout)

    def _gather(self, state: _State, at: np.ndarray) -> np.ndarray:
        return _gather(state.blocks, at, self.dimension, self.dtype)

    def _rebuild(self, keys: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        blocks = _with_room((), len(keys), self.dimension, self.dtype)
        _put(blocks, 0, rows)
        self._state = _State(keys.copy(), blocks, np.ones(len(keys), bool), len(keys), 0, self._state.layout + 1)

    @staticmethod
    def _find(state: _State, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of ``keys`` and whether each is there (alive or not)."""
        if state.count == 0 or len(keys) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        at = np.minimum(np.searchsorted(state.keys[: state.count], keys), state.count - 1)
        return at, state.keys[at] == keys

    def _present(self, state: _State, keys: np.ndarray) -> np.ndarray:
        return self._live(state, *self._find(state, keys))

    @staticmethod
    def _live(state: _State, at: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Which found positions hold a row that was not removed."""
        if state.count == 0:
            return found
        return found & state.alive[at]


def _with_room(blocks: tuple[np.ndarray, ...], rows: int, dimension: int, dtype: type) -> tuple[np.ndarray, ...]:
    """``blocks`` followed by as many new ones as ``rows`` rows need."""
    needed = -(-rows // BLOCK_ROWS)
    if needed <= len(blocks):
        return blocks
    return blocks + tuple(np.zeros((BLOCK_ROWS, dimension), dtype) for _ in range(needed - len(blocks)))


def _put(blocks: tuple[np.ndarray, ...], first: int, rows: np.ndarray) -> None:
    """Write ``rows`` at row positions ``first`` onwards."""
    done = 0
    while done < len(rows):
        block, offset = divmod(first + done, BLOCK_ROWS)
        n = min(BLOCK_ROWS - offset, len(rows) - done)
        blocks[block][offset : offset + n] = rows[done : done + n]
        done += n


def _gather(blocks: tuple[np.ndarray, ...], at: np.ndarray, dimension: int, dtype: type) -> np.ndarray:
    """The rows at positions ``at``, in that order, at the stored precision."""
    at = np.asarray(at, np.int64)
    if len(at) == 0:
        return np.zeros((len(at), dimension), dtype)
    which = at >> _BLOCK_SHIFT
    first = int(which[0])
    if np.all(which == first):  # the common case: one scene's rows, or a small table
        rows = at & (BLOCK_ROWS - 1)
        lo, hi = int(rows[0]), int(rows[-1])
        if hi - lo == len(rows) - 1 and np.all(np.diff(rows) == 1):
            # A run of rows (one video's segments): a view, not a copy. Rows are never
            # written in place (a rebuild makes new blocks), so the view stays true. A
            # 2,700-row copy took 0.16 ms of a filtered segment search's 1.1.
            view = blocks[first][lo : hi + 1]
            view.flags.writeable = False  # a caller cannot write into the table through it
            return view
        return blocks[first][rows]
    out = np.empty((len(at), dimension), dtype)
    for block in np.unique(which).tolist():
        mine = which == block
        out[mine] = blocks[block][at[mine] & (BLOCK_ROWS - 1)]
    return out


def table_of(
    vectors_of: Callable[[np.ndarray], Any], dimension: int, keys: np.ndarray, dtype: type, chunk: int = 50_000
) -> VectorTable:
    """A table of the vectors of ``keys``, read ``chunk`` keys at a time from
    ``vectors_of`` (a loaded USearch index's ``get``: one row per key, given as uint64)."""
    table = VectorTable(dimension, dtype)
    keys = np.sort(keys)
    for lo in range(0, len(keys), chunk):
        part = keys[lo : lo + chunk]
        table.add(part, np.stack(vectors_of(part.astype(np.uint64))).astype(np.float32))
    return table


def _grow(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), array.dtype)
    out[: len(array)] = array
    return out
