"""Every stored node's fields but its vector, held in memory in Arrow columns, so that
turning a search's answers into hits does not ask the store for them.

DuckDB scans for a handful of keys: at 100 k nodes a look-up of ten took 1.6 ms and of a
hundred 3.5 ms (one key alone 0.8 ms), 40 % of a segment search and most of a half's,
whose answers bring their evidence segments. A snapshot of the columns answers in tens
of microseconds, and holds about 100 bytes per node plus its text (100 MB at a million
segments without text).

A snapshot is read from the store whole, in a background thread, and replaces the last
one. It cannot answer for nodes written after it was read (their keys are absent) or
rewritten or deleted since (the database names those, as it does to the node cache:
:meth:`NodeRows.forget`, :meth:`NodeRows.invalidate`); the caller reads those from the
store. Once ``REFRESH_AFTER`` keys were asked for that it could not answer (a bulk load,
a wave of tree builds), a fresh snapshot is read: one at a time, and not before the last
read's time ``SPACING`` times over has passed since it ended, so reading takes at most
a fifth of a core however fast the store changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from hierarchy.types import Level, Node

log = logging.getLogger(__name__)

# Keys asked for and not answered from the snapshot before a fresh one is read.
REFRESH_AFTER = 1024
# A read may start once SPACING times its predecessor's duration has passed since it ended.
SPACING = 4.0

_COLUMNS = (
    "key, node_id, level, video_id, start_ms, end_ms, parent_id, text, labels, "
    "attributes::VARCHAR AS attributes, child_count, label_counts::VARCHAR AS label_counts"
)


@dataclass(frozen=True)
class Snapshot:
    """Node rows in key order, and which of them changed in the store since they were read."""

    keys: np.ndarray
    table: pa.Table
    stale: np.ndarray  # bool per row: rewritten or deleted since the read

    @classmethod
    def empty(cls) -> Snapshot:
        """A snapshot holding nothing."""
        return cls(np.zeros(0, np.int64), pa.table({}), np.zeros(0, bool))

    @classmethod
    def read(cls, cur: duckdb.DuckDBPyConnection) -> Snapshot:
        """Every node's row from the store, as of now."""
        table = cur.sql(f"SELECT {_COLUMNS} FROM nodes ORDER BY key").to_arrow_table()
        table = table.combine_chunks()  # one chunk per column: ``take`` then costs no chunk walk
        keys = table.column("key").to_numpy()
        return cls(keys, table.drop_columns(["key"]), np.zeros(len(keys), bool))

    def positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the rows held and fresh, the mask of ``keys`` they answer)."""
        if len(self.keys) == 0:
            return np.zeros(0, np.int64), np.zeros(len(keys), bool)
        at = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        held = (self.keys[at] == keys) & ~self.stale[at]
        return at[held], held

    def mark_stale(self, keys: np.ndarray) -> None:
        """Note that the rows of ``keys`` (where held) no longer match the store."""
        if len(self.keys) == 0 or len(keys) == 0:
            return
        at = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        self.stale[at[self.keys[at] == keys]] = True

    def nodes(self, positions: np.ndarray) -> list[Node]:
        """Nodes of the rows at ``positions``."""
        rows = self.table.take(pa.array(positions, pa.int64())).to_pydict()
        return [
            Node(
                id=row[0],
                level=Level(row[1]),
                video_id=row[2],
                start_ms=row[3],
                end_ms=row[4],
                parent_id=row[5],
                text=row[6],
                labels=tuple(row[7]),
                attributes=json.loads(row[8]),
                child_count=row[9],
                label_counts=json.loads(row[10]),
            )
            for row in zip(*rows.values(), strict=True)
        ]


class NodeRows:
    """The in-memory rows of every node, refreshed in the background (see the module)."""

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._snapshot = Snapshot.empty()
        self._read_once = False
        self._unanswered = 0  # keys asked for since the last read began that it could not answer
        # Keys forgotten while a read is under way: it may have read their old rows.
        self._pending: list[np.ndarray] | None = None
        self._generation = 0  # bumped by ``invalidate``: a read begun before it is dropped
        self._reader: threading.Thread | None = None
        self._next_read = 0.0  # monotonic time before which no read starts
        self._closed = False
        self.reads = 0

    def __len__(self) -> int:
        return len(self._snapshot.keys)

    @property
    def nbytes(self) -> int:
        """Bytes the snapshot holds (its columns and keys)."""
        snapshot = self._snapshot
        return int(snapshot.table.nbytes + snapshot.keys.nbytes + snapshot.stale.nbytes)

    def get(self, keys: list[int]) -> dict[int, Node]:
        """Nodes of those ``keys`` the snapshot holds unchanged; the rest are absent."""
        wanted = np.asarray(keys, np.int64)
        snapshot = self._snapshot
        positions, held = snapshot.positions(wanted)
        unanswered = len(wanted) - len(positions)
        if unanswered:
            self._note_unanswered(unanswered)
        if len(positions) == 0:
            return {}
        return dict(zip(wanted[held].tolist(), snapshot.nodes(positions), strict=True))

    def forget(self, keys: Iterable[int]) -> None:
        """The rows of ``keys`` were rewritten or deleted: stop answering for them."""
        stale = np.fromiter((int(k) for k in keys), np.int64)
        with self._lock:
            self._snapshot.mark_stale(stale)
            if self._pending is not None:
                self._pending.append(stale)

    def invalidate(self) -> None:
        """Rows were rewritten or deleted that cannot be named: hold nothing until the next read."""
        with self._lock:
            self._generation += 1
            self._snapshot = Snapshot.empty()

    def close(self) -> None:
        """Wait for a read under way; start no other."""
        with self._lock:
            self._closed = True
            reader = self._reader
        if reader is not None:
            reader.join()

    def refresh(self) -> None:
        """Read a fresh snapshot now, in this thread (after a read under way)."""
        while True:
            with self._lock:
                reader = self._reader
                if reader is None:
                    self._reader = threading.current_thread()
                    generation, began = self._begin()
                    break
            reader.join()
        self._read(generation, began)

    def _note_unanswered(self, count: int) -> None:
        with self._lock:
            if self._reader is not None:  # the read under way may answer them
                return
            self._unanswered += count
            due = not self._read_once or self._unanswered >= REFRESH_AFTER
            if not due or self._closed or time.monotonic() < self._next_read:
                return
            generation, began = self._begin()
            self._reader = threading.Thread(
                target=self._read, args=(generation, began), name="strata-node-rows", daemon=True
            )
            self._reader.start()

    def _begin(self) -> tuple[int, float]:
        """Start a read (under the lock): forgets from now on are replayed on its snapshot."""
        self._read_once = True
        self._unanswered = 0
        self._pending = []
        return self._generation, time.monotonic()

    def _read(self, generation: int, began: float) -> None:
        snapshot = None
        try:
            snapshot = Snapshot.read(self._cursor())
        except duckdb.Error as exc:  # the store closed or failed: searches read it directly
            log.warning("node rows not read: %s", exc)
        took = time.monotonic() - began
        with self._lock:
            if snapshot is not None and generation == self._generation:
                for keys in self._pending or []:
                    snapshot.mark_stale(keys)
                self._snapshot = snapshot
                self.reads += 1
            self._pending = None
            self._next_read = time.monotonic() + SPACING * took
            if self._reader is threading.current_thread():
                self._reader = None
        if snapshot is not None:
            log.info("node rows read: %d nodes in %.2f s", len(snapshot.keys), took)
