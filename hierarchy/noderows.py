"""Every stored node's fields but its vector, held in memory in Arrow columns, so that
turning a search's answers into hits does not ask the store for them.

DuckDB scans for a handful of keys: at 100 k nodes a look-up of ten took 1.6 ms and of a
hundred 3.5 ms (one key alone 0.8 ms), 40 % of a segment search and most of a half's,
whose answers bring their evidence segments. Under cProfile the columns answered a page
of ten segments in 0.3 ms and a page of halves with their evidence in 0.7; they hold
about 100 bytes a node plus its text (9.6 MB for 100,800 segments without text).

A snapshot is read from the store in a background thread and replaces the last one. It
cannot answer for nodes written after it was read (their keys are absent) or rewritten or
deleted since (the database names those, as it does to the node cache:
:meth:`NodeRows.forget`, :meth:`NodeRows.invalidate`); the caller reads those from the
store. Once ``REFRESH_AFTER`` keys were asked for that it could not answer (a bulk load,
a wave of tree builds), a fresh snapshot is read: one at a time, and not before the last
read's time ``SPACING`` times over has passed since it ended, so reading takes at most a
fifth of a core however fast the store changes. A read takes what changed: the rows
committed since the last one and the rows it holds stale, as one more block of the
snapshot; after ``MAX_BLOCKS`` blocks the next read is a whole one (1.1 M nodes: 0.33 s).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from hierarchy import nodes
from hierarchy.types import Node

log = logging.getLogger(__name__)

# Keys asked for and not answered from the snapshot before a fresh one is read.
REFRESH_AFTER = 1024
# A read may start once SPACING times its predecessor's duration has passed since it ended.
SPACING = 4.0
# Blocks a snapshot may hold: the next read after that many is a whole one, in one block.
MAX_BLOCKS = 4


_PLAIN = ("key", "seq", "node_id", "level", "video_id", "start_ms", "end_ms", "parent_id", "text", "labels")


def _columns(table: str) -> str:
    """The columns a read selects from ``table``: those ``nodes.from_row`` takes (JSON as
    text), and the commit sequence after the key."""
    plain = ", ".join(f"{table}.{column}" for column in _PLAIN)
    return (
        f"{plain}, {table}.attributes::VARCHAR AS attributes, {table}.child_count, "
        f"{table}.label_counts::VARCHAR AS label_counts, {table}.shot_cut"
    )


@dataclass(frozen=True)
class Block:
    """Node rows in key order, and which of them no longer match the store."""

    keys: np.ndarray
    table: pa.Table
    stale: np.ndarray  # bool per row: rewritten or deleted since the read

    @classmethod
    def of(cls, table: pa.Table) -> Block:
        """A block of rows read with :func:`_columns`, in key order."""
        table = table.combine_chunks()  # one chunk per column: ``take`` then costs no chunk walk
        keys = table.column("key").to_numpy()
        return cls(keys, table.drop_columns(["seq"]), np.zeros(len(keys), bool))

    @property
    def fresh(self) -> int:
        """Rows that still match the store."""
        return len(self.keys) - int(self.stale.sum())

    @property
    def nbytes(self) -> int:
        """Bytes the block holds."""
        return int(self.table.nbytes + self.keys.nbytes + self.stale.nbytes)

    def positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the rows held and fresh, the mask of ``keys`` they answer)."""
        at, held = self._find(keys)
        at = at[held]
        fresh = ~self.stale[at]
        held[held] = fresh
        return at[fresh], held

    def mark_stale(self, keys: np.ndarray) -> None:
        """Note that the rows of ``keys`` (where held) no longer match the store."""
        at, held = self._find(keys)
        self.stale[at[held]] = True

    def nodes(self, positions: np.ndarray) -> list[Node]:
        """Nodes of the rows at ``positions``."""
        rows = self.table.take(pa.array(positions, pa.int64())).to_pydict()
        return [nodes.from_row(row) for row in zip(*rows.values(), strict=True)]

    def values(self, positions: np.ndarray, column: str) -> list:
        """One column's values at ``positions`` (JSON columns as text)."""
        return self.table.column(column).take(pa.array(positions, pa.int64())).to_pylist()

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(where each of ``keys`` is or would be, whether it is held)."""
        if len(self.keys) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        at = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        return at, self.keys[at] == keys


@dataclass(frozen=True)
class Snapshot:
    """Blocks of node rows, oldest first: a whole read, then the rows each later read
    found written (new keys) or rewritten (stale keys, read again) since the one before."""

    blocks: tuple[Block, ...] = ()
    sequence: int = -1  # the highest commit read
    gone: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # deleted: never read again

    @classmethod
    def read(cls, cur: duckdb.DuckDBPyConnection) -> Snapshot:
        """Every node's row from the store, as of now, in one block."""
        table = cur.sql(f"SELECT {_columns('nodes')} FROM nodes ORDER BY key").to_arrow_table()
        return cls((Block.of(table),), _highest(table, -1))

    def updated(self, cur: duckdb.DuckDBPyConnection) -> Snapshot:
        """These blocks and one more: the rows committed after ``sequence`` and the stale
        rows read afresh (a deleted one is not found, and is never asked for again). A
        commit to another collection that took an earlier sequence but landed after the
        last read is missed until the next whole read."""
        again = self.stale_keys()
        cur.register("strata_reread", pa.table({"key": pa.array(again, pa.int64())}))
        try:
            table = cur.sql(
                f"SELECT {_columns('nodes')} FROM nodes WHERE seq > {int(self.sequence)} UNION ALL "
                f"SELECT {_columns('n')} FROM nodes n JOIN strata_reread r ON n.key = r.key "
                f"WHERE n.seq <= {int(self.sequence)} ORDER BY key"
            ).to_arrow_table()
        finally:
            cur.unregister("strata_reread")
        block = Block.of(table)
        gone = np.union1d(self.gone, np.setdiff1d(again, block.keys))
        return Snapshot((*self.blocks, block), _highest(table, self.sequence), gone)

    @property
    def fresh(self) -> int:
        """Rows that still match the store."""
        return sum(block.fresh for block in self.blocks)

    def stale_keys(self) -> np.ndarray:
        """Keys held stale and nowhere fresh, but for those known deleted."""
        if not self.blocks:
            return np.zeros(0, np.int64)
        stale = np.unique(np.concatenate([block.keys[block.stale] for block in self.blocks]))
        for block in self.blocks:
            stale = stale[~block.positions(stale)[1]]
        return np.setdiff1d(stale, self.gone, assume_unique=True)

    def mark_stale(self, keys: np.ndarray) -> None:
        """Note that the rows of ``keys`` no longer match the store, in every block."""
        for block in self.blocks:
            block.mark_stale(keys)

    def get(self, keys: np.ndarray) -> tuple[dict[int, Node], int]:
        """Nodes of those ``keys`` held fresh (the newest block first), and how many were not."""
        return self._read(keys, lambda block, positions: block.nodes(positions))

    def values(self, keys: np.ndarray, column: str) -> tuple[dict[int, object], int]:
        """One column of those ``keys`` held fresh (as :meth:`get`), and how many were not."""
        return self._read(keys, lambda block, positions: block.values(positions, column))

    def _read(self, keys: np.ndarray, take: Callable[[Block, np.ndarray], list]) -> tuple[dict[int, Any], int]:
        """``take`` of the rows of ``keys`` held fresh, newest block first, and how many were not."""
        out: dict[int, Any] = {}
        left = keys
        for block in reversed(self.blocks):
            if not len(left):
                break
            positions, held = block.positions(left)
            if len(positions):
                out.update(zip(left[held].tolist(), take(block, positions), strict=True))
                left = left[~held]
        return out, len(left)


def _highest(table: pa.Table, floor: int) -> int:
    seqs = table.column("seq").to_numpy()
    return max(floor, int(seqs.max())) if len(seqs) else floor


class NodeRows:
    """The in-memory rows of every node, refreshed in the background (see the module)."""

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
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
        return self._snapshot.fresh

    @property
    def nbytes(self) -> int:
        """Bytes the snapshot holds (its columns and keys)."""
        return sum(block.nbytes for block in self._snapshot.blocks)

    @property
    def blocks(self) -> int:
        """Blocks the snapshot holds (1 after a whole read)."""
        return len(self._snapshot.blocks)

    def get(self, keys: list[int]) -> dict[int, Node]:
        """Nodes of those ``keys`` the snapshot holds unchanged; the rest are absent."""
        snapshot = self._snapshot
        found, unanswered = snapshot.get(np.asarray(keys, np.int64))
        if unanswered:
            self._note_unanswered(unanswered, snapshot)
        return found

    def attributes(self, keys: list[int]) -> dict[int, dict]:
        """The attributes of those ``keys`` the snapshot holds unchanged, without building
        their nodes (a node decodes two JSON columns and ten fields: 100 nodes took 1.1 ms
        of a routed search that only asked which side each answer was)."""
        return self.decoded(keys, "attributes")

    def decoded(self, keys: list[int], column: str) -> dict[int, Any]:
        """One JSON column (``attributes``, ``label_counts``) of those ``keys`` the snapshot
        holds unchanged, decoded, without building their nodes."""
        snapshot = self._snapshot
        found, unanswered = snapshot.values(np.asarray(keys, np.int64), column)
        if unanswered:
            self._note_unanswered(unanswered, snapshot)
        if not found:
            return {}
        # One parse of the texts as a JSON array: a parse each was 170 µs for 100 rows, 63 µs so.
        return dict(zip(found, json.loads(f"[{','.join(found.values())}]"), strict=True))

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
            self._snapshot = Snapshot()

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

    def _note_unanswered(self, count: int, snapshot: Snapshot) -> None:
        """``count`` keys ``snapshot`` could not answer: a read starts once enough were."""
        with self._lock:
            # The read under way may answer them; one that ended since they were looked up
            # may have (counted, a look-up that straddled a read pushed the next one early).
            if self._reader is not None or snapshot is not self._snapshot:
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
        current = self._snapshot
        snapshot = None
        try:
            if len(current.blocks) in (0, MAX_BLOCKS):
                snapshot = Snapshot.read(self._cursor())
            else:
                snapshot = current.updated(self._cursor())
        except duckdb.Error as exc:  # the store closed or failed: searches read it directly
            log.warning("node rows not read: %s", exc)
        except Exception:  # noqa: BLE001 - whatever failed, the next refresh must be able to start
            log.exception("node rows not read")
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
            log.info("node rows read: %d nodes in %.2f s (%d blocks)", snapshot.fresh, took, len(snapshot.blocks))
