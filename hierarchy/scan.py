"""A float32 copy of a small level's rows, scored by matrix products (one per 8,192 rows).

A level under ``exact_below`` is ranked by scoring every row. USearch's exact search
over the half-float table does that at 1.1 ms for 8,743 512-d rows, but two threads
calling it take twice as long as one (measured: speed-up 0.5), so concurrent searches
queue on it. numpy's matrix product releases the GIL: over a float32 copy it scores the
same rows in 0.65 ms on one BLAS thread, and two threads run side by side (speed-up
2.6); held as columns, the copy is scored faster still (see ``ROW_GROUP``). The copy
costs four bytes a value, only while the level is small enough to scan
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

The copies of a process share one :class:`Budget` (``DatabaseOptions.scan_memory_mb``):
many small collections would otherwise each hold theirs, four bytes a value beside the
table's two. A copy that does not fit, once copies unused for ``IDLE_SECONDS`` are
dropped to make room, is not made: its level is scored by USearch's exact kernels over
the table instead, slower but in no extra memory, and with scores that can differ from
the copy's in their last bits (a level that goes from one to the other between two pages
of a search can order answers that close differently). Not counted: a search that read
the table before a rebuild moved its rows widens a copy of its own, for that search only,
and a copy growing holds its old arrays and new ones until the searches reading the old
are done.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from hierarchy import order
from hierarchy.exact import similarity_of
from hierarchy.types import Metric
from hierarchy.vectortable import VectorTable

_GROWTH = 1.5
# A copy holds its rows as rows, or as the columns of a ``(dimension, capacity)`` matrix.
# A level scanned whole wants columns: ``query @ columns`` runs BLAS's kernel for that
# product 2.6 times as fast as the one for ``rows @ query`` over the same rows (12,160
# 384-d rows, as ActivityNet-200's segments, one BLAS thread: 0.42 ms against 1.11; 20,000
# 512-d rows: 1.35 against 2.91). A level whose rows are mostly read a few at a time
# wants rows: a row read from columns touches a cache line per dimension, so gathering
# scattered rows took over ten times as long (224 of 8,743 512-d rows: 174 us against 15,
# the gathers alone). The
# segment level is scanned whole by routed searches while it is small enough to scan; a
# parent level above ``hierarchy.search.GRAPH_CANDIDATES_ABOVE`` is searched through its
# graph, its candidates' rows gathered to score them (100 k benchmark segments, 8,743
# scenes held as columns: a routed search 3.59 -> 3.91 and 3.19 -> 3.50 ms in two paired
# runs).
#
# Either kernel sums the last rows of a product (those past a whole number of its vector
# lanes) in another order than the rest, so one row's score changed in its last bits with
# where it lay in a product: identical vectors (a caption said twice) scored apart, so
# their keys did not order them, and a level's rows scored again after appends changed
# (pages under concurrent writes could repeat one twin and skip the other). Products over
# whole groups of this many rows (the rows past the end are computed and dropped) give a
# row one score wherever it lies.
ROW_GROUP = 32
# Products over more than 16,384 rows summed a row in another order when the rows had
# fewer than 64 dimensions, in either layout, so products are taken this many rows at a
# time.
# Of 3,640 products of runs, gathers and several queries in each layout, 3- to 1,024-d,
# 5 to 40,000 rows, on one BLAS thread or two, none scored a row apart from the whole
# level's product (OpenBLAS 0.3.31, SkylakeX kernels). Without these chunks 125 and 112
# of 1,820 did (columns, rows), and without the groups 865 and 1,247.
PRODUCT_ROWS = 8192
# Gathering rows that are not consecutive from columns: 0.55 us a row at 384-d, where a
# product scores a row in 0.035 us. Asked for at most one row in this many (per query
# scored), a search gathers them; for more, it scores every row and picks.
GATHER_RATIO = 16
IDLE_SECONDS = 60.0  # a copy no search read for this long gives way to one that does not fit


@dataclass(frozen=True)
class _Copy:
    layout: int
    count: int
    matrix: np.ndarray  # float32 rows (capacity, dimension), or their columns (dimension, capacity)
    norms: np.ndarray


@dataclass(frozen=True)
class Picked:
    """Some rows of a scan, ready to score: ``keys`` (those asked still present, in the
    order asked) and their ``norms``. Their products come from ``matrix``, their rows (or
    columns) followed by as many more as make whole groups, or, when ``at`` is given,
    from a product over all of ``matrix`` read at ``at``."""

    keys: np.ndarray
    norms: np.ndarray
    matrix: np.ndarray
    columns: bool
    at: np.ndarray | None = None

    def dots(self, query: np.ndarray) -> np.ndarray:
        """Each picked row's dot product with ``query``."""
        dots = _product(query, self.matrix, self.columns)
        return dots[self.at] if self.at is not None else dots[: len(self.keys)]


@dataclass(frozen=True)
class Scan:
    """Every row of a table, widened, as the rows (or the columns) of ``matrix``, which
    runs past the table's ``len(keys)`` rows to a whole number of ``ROW_GROUP`` rows:
    products are taken over whole groups."""

    keys: np.ndarray
    alive: np.ndarray
    matrix: np.ndarray
    norms: np.ndarray
    columns: bool = False

    @property
    def rows(self) -> np.ndarray:
        """The rows (a view of ``matrix``)."""
        return self.matrix.T if self.columns else self.matrix

    @property
    def _held(self) -> int:
        """Rows the matrix holds."""
        return self.matrix.shape[1] if self.columns else self.matrix.shape[0]

    def _part(self, first: int, count: int) -> np.ndarray:
        """Rows ``[first, first + count)`` of the matrix, in its layout."""
        return self.matrix[:, first : first + count] if self.columns else self.matrix[first : first + count]

    def _picked(self, keys: np.ndarray, norms: np.ndarray, matrix: np.ndarray, at: np.ndarray | None = None) -> Picked:
        return Picked(keys, norms, matrix, self.columns, at)

    def among(self, keys: np.ndarray, queries: int = 1) -> Picked:
        """Those of ``keys`` still present, in the order given, ready to score against
        ``queries`` queries. A run of consecutive rows (one video's) is read in place."""
        keys = np.asarray(keys, np.int64)
        if not len(self.keys) or not len(keys):
            return self._picked(keys[:0], self.norms[:0], self._part(0, 0))
        run = self._run(keys)
        if run is not None:
            return self._picked(keys, self.norms[run : run + len(keys)], self._part(run, _whole(len(keys))))
        at, live = self._positions(keys)
        at = at[live]
        if not len(at):
            return self._picked(keys[:0], self.norms[:0], self._part(0, 0))
        first, whole = int(at[0]), _whole(len(at))
        if first + whole <= self._held and at[-1] - first == len(at) - 1 and np.all(np.diff(at) == 1):
            return self._picked(keys[live], self.norms[first : first + len(at)], self._part(first, whole))
        if self.columns and len(at) * GATHER_RATIO > len(self.keys) * queries:
            return self._picked(keys[live], self.norms[at], self._part(0, _whole(len(self.keys))), at)
        padded = np.concatenate([at, np.repeat(at[:1], whole - len(at))])
        # ``take`` lays gathered columns out row-major; indexing (``matrix[:, at]``) lays
        # them out column-major, which BLAS multiplies by its other kernel.
        gathered = np.take(self.matrix, padded, axis=1) if self.columns else self.matrix[padded]
        return self._picked(keys[live], self.norms[at], gathered)

    def rows_of(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(whether each of ``keys`` is present, in the order given; the rows of those
        that are and their norms), with no rows past them."""
        keys = np.asarray(keys, np.int64)
        if not len(self.keys):
            return np.zeros(len(keys), bool), self.rows[:0], self.norms[:0]
        at, live = self._positions(keys)
        at = at[live]
        # Rows of the columns' transpose, gathered whole: half the time ``take`` and a
        # transposed copy took (100 of 11,514 384-d rows).
        rows = np.ascontiguousarray(self.matrix.T[at]) if self.columns else self.matrix[at]
        return live, rows, self.norms[at]

    def _positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of ``keys`` is or would be (the table holds some), and whether it is
        held and alive."""
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return at, (self.keys[at] == keys) & self.alive[at]

    def _run(self, keys: np.ndarray) -> int | None:
        """The row of ``keys[0]`` when ``keys`` are consecutive integers in ascending order
        (a video's segments, the common case), all held and alive: found by one bisection,
        not one per key (0.09 of the 0.27 ms that scoring a soccer video's 2,846 segments
        took). None otherwise."""
        first, last = int(keys[0]), int(keys[-1])
        if last - first != len(keys) - 1 or not bool(np.all(np.diff(keys) == 1)):
            return None
        at = int(np.searchsorted(self.keys, first))
        end = at + len(keys)
        # The table's keys are sorted and unique: holding ``first`` and ``last`` that many
        # rows apart, it holds every key between, in those rows.
        if end > len(self.keys) or int(self.keys[at]) != first or int(self.keys[end - 1]) != last:
            return None
        if at + _whole(len(keys)) > self._held or not bool(self.alive[at:end].all()):
            return None
        return at

    def best(
        self, query: np.ndarray, count: int | None, metric: Metric, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` (default: all) live rows most similar to ``query`` (or of those
        ``among`` these keys): their keys and similarities, best first, ties by key."""
        if among is None:
            keys, norms = self.keys, self.norms[: len(self.keys)]
            dots = _product(query, self._part(0, _whole(len(keys))), self.columns)[: len(keys)]
        else:
            picked = self.among(among)
            keys, norms, dots = picked.keys, picked.norms, picked.dots(query)
        sims = similarity_of(metric, dots, norms, query)
        if among is None:
            sims[~self.alive] = -np.inf
        best = order.best_first(keys, sims, count)
        best = best[np.isfinite(sims[best])]
        return keys[best], sims[best].astype(np.float32)

    def scores(self, keys: np.ndarray, queries: np.ndarray, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        """(those of ``keys`` still present, in the order given; a ``(queries, keys)``
        matrix of their similarities to each row of ``queries``)."""
        picked = self.among(keys, len(queries))
        sims = np.zeros((len(queries), len(picked.keys)), np.float32)
        for i, query in enumerate(queries):
            sims[i] = similarity_of(metric, picked.dots(query), picked.norms, query)
        return picked.keys, sims


def _product(query: np.ndarray, matrix: np.ndarray, columns: bool) -> np.ndarray:
    """Each row's dot product with ``query``, ``PRODUCT_ROWS`` rows at a time."""
    rows = matrix.shape[1] if columns else matrix.shape[0]
    if columns:
        parts = [query @ matrix[:, lo : lo + PRODUCT_ROWS] for lo in range(0, rows, PRODUCT_ROWS)]
    else:
        parts = [matrix[lo : lo + PRODUCT_ROWS] @ query for lo in range(0, rows, PRODUCT_ROWS)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.float32)


class Budget:
    """The bytes every float32 copy of the process may hold together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        # The bytes each copy was let hold, reserved before it grows: searches growing
        # copies at once must not each count the same room.
        self._reserved: weakref.WeakKeyDictionary[ScanCopy, int] = weakref.WeakKeyDictionary()

    @property
    def held(self) -> int:
        """Bytes the copies may hold now."""
        with self._lock:
            return sum(nbytes for _, nbytes in self._live())

    def admit(self, copy: ScanCopy, nbytes: int) -> bool:
        """Whether ``copy`` may hold ``nbytes`` (its size once caught up; refused, it holds
        none), dropping copies idle for ``IDLE_SECONDS``, least recently read first, to
        make room: none unless enough of them can be dropped."""
        with self._lock:
            self._reserved.pop(copy, None)
            live = self._live()
            room = self.limit - sum(held for _, held in live)
            if nbytes > room:
                since = time.monotonic() - IDLE_SECONDS
                idle = sorted((c for c in live if c[0].read_at < since), key=lambda c: c[0].read_at)
                claimed = []  # idle copies no search is catching up, held still while room is counted
                try:
                    for other, held in idle:
                        if nbytes <= room:
                            break
                        if other.claim():
                            claimed.append(other)
                            room += held
                    if nbytes > room:
                        return False
                    for other in claimed:
                        other.drop_claimed()
                        self._reserved.pop(other, None)
                finally:
                    for other in claimed:
                        other.unclaim()
            self._reserved[copy] = nbytes
            return True

    def _live(self) -> list[tuple[ScanCopy, int]]:
        """(copy, bytes reserved) of the copies alive: read from a copy of the table's items
        taken in one step, which a copy dying meanwhile in another thread cannot change
        under the loop."""
        pairs = list(self._reserved.data.items())
        return [(copy, held) for ref, held in pairs if (copy := ref()) is not None]

    def forget(self, copy: ScanCopy) -> None:
        """``copy`` holds nothing now."""
        with self._lock:
            self._reserved.pop(copy, None)


BUDGET = Budget(1 << 30)  # set by each Database that opens (DatabaseOptions.scan_memory_mb)


class ScanCopy:
    """The float32 rows of one :class:`VectorTable`, kept up to date on demand, within
    the process's :data:`BUDGET`; as columns when ``columns`` (a level scanned whole,
    see ``ROW_GROUP``)."""

    def __init__(self, table: VectorTable, budget: Budget | None = None, columns: bool = False) -> None:
        self._table = table
        self._budget = budget or BUDGET
        self.columns = columns
        self._lock = threading.Lock()
        self._copy: _Copy | None = None
        self.read_at = time.monotonic()  # the last search that read the copy

    def current(self, read: bool = True) -> Scan | None:
        """Every row of the table as it is now (appends caught up, a rebuild redone); None
        when the copy does not fit the budget. ``read``: a search's (a read-ahead that
        only keeps the copy up to date is not one, so it does not keep the copy held)."""
        state = self._table.in_place()
        count = len(state.keys)
        if read:
            self.read_at = time.monotonic()  # before asking for room: a copy being read is never idle
        with self._lock:
            copy = self._copy
            if copy is None or copy.layout < state.layout:
                copy = _empty(state.layout, self._table.dimension, self.columns)
                if not count:  # a level emptied by a rebuild: its old room is free
                    self._budget.forget(self)
            if copy.layout == state.layout:
                # A copy caught up further by another search holds these rows too.
                if copy.count < count:
                    if not self._budget.admit(self, _bytes(_capacity(copy, count), self._table.dimension)):
                        self._copy = None
                        return None
                    copy = _caught_up(copy, state.parts, count, self.columns)
                self._copy = copy
        if copy.layout != state.layout:  # the table was rebuilt since this state was read
            empty = _empty(state.layout, self._table.dimension, self.columns)
            copy = _caught_up(empty, state.parts, count, self.columns)
        return Scan(state.keys, state.alive, copy.matrix, copy.norms, self.columns)

    def release(self) -> None:
        """Drop the copy (the level outgrew scanning); the next :meth:`current` rebuilds it."""
        with self._lock:
            self._copy = None
            self._budget.forget(self)

    def claim(self) -> bool:
        """Hold the copy still unless a search is catching it up (whether it is now held):
        the budget, which calls it, never waits on a copy."""
        return self._lock.acquire(blocking=False)

    def drop_claimed(self) -> None:
        """Drop the copy :meth:`claim` holds."""
        self._copy = None

    def unclaim(self) -> None:
        """Let go of the copy :meth:`claim` holds."""
        self._lock.release()

    @property
    def held(self) -> bool:
        """Whether a copy is held."""
        return self._copy is not None


def _empty(layout: int, dimension: int, columns: bool) -> _Copy:
    shape = (dimension, 0) if columns else (0, dimension)
    return _Copy(layout, 0, np.zeros(shape, np.float32), np.zeros(0, np.float32))


def _capacity(copy: _Copy, count: int) -> int:
    """Rows the copy's arrays hold once caught up to ``count``: whole groups."""
    held = len(copy.norms)
    if count <= held:
        return held
    return _whole(max(count, int(held * _GROWTH), 1024))


def _whole(rows: int) -> int:
    """``rows`` rounded up to whole groups of ``ROW_GROUP``."""
    return -(-rows // ROW_GROUP) * ROW_GROUP


def _bytes(rows: int, dimension: int) -> int:
    return rows * (dimension + 1) * 4


def _caught_up(copy: _Copy, parts: list[tuple[int, np.ndarray]], count: int, columns: bool) -> _Copy:
    """``copy`` with the table's rows from ``copy.count`` up to ``count`` widened into it."""
    matrix, norms = copy.matrix, copy.norms
    if count > len(norms):  # grow into new arrays: scans under way keep reading the old
        capacity = _capacity(copy, count)
        dimension = matrix.shape[0] if columns else matrix.shape[1]
        grown = np.zeros((dimension, capacity) if columns else (capacity, dimension), np.float32)
        if columns:
            grown[:, : copy.count] = matrix[:, : copy.count]
        else:
            grown[: copy.count] = matrix[: copy.count]
        matrix = grown
        norms = np.concatenate([norms[: copy.count], np.zeros(capacity - copy.count, np.float32)])
    for first, block in parts:
        lo, hi = max(first, copy.count), min(first + len(block), count)
        if lo < hi:
            rows = block[lo - first : hi - first].astype(np.float32)
            if columns:
                matrix[:, lo:hi] = rows.T
            else:
                matrix[lo:hi] = rows
            norms[lo:hi] = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return _Copy(copy.layout, count, matrix, norms)
