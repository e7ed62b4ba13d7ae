"""Vector indexes: one USearch HNSW index per collection and level.

An index is derived data. It is saved atomically (write to a temporary file, fsync,
rename) beside a small JSON sidecar holding the file's SHA-256, the vector count and
the commit sequence it covers (its watermark). :meth:`LevelIndex.load` refuses a file
whose checksum, parameters or count do not match, and the caller rebuilds it from the
store. Levels smaller than ``exact_below`` are searched exactly (one pass over every
vector), which at that size is both faster and exact.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from usearch.index import Index

from hierarchy import files, graphsave, order, process
from hierarchy.exact import exact_search, exact_top, similarity_from_distance, similarity_of
from hierarchy.indexparams import BUILT_WITH, QUANTIZED, RESCORE_FACTOR, IndexParams
from hierarchy.scan import ScanCopy
from hierarchy.tail import UnlinkedTail
from hierarchy.types import Metric
from hierarchy.vectortable import TABLE_DTYPES, VectorTable, table_of

log = logging.getLogger(__name__)


# While the tail is at least half full (a bulk load), the linker inserts a whole write per
# call on two threads: twice the pace of a vector a call (5,000 against 2,500 vectors/s on
# 60 k benchmark vectors); a search waits for the call under way, so only when writers wait.
# Only into an established graph (small writes into an empty one missed their own nearest)
# and in large calls: 40 k vectors added to a graph of 20 k in calls of 64 on two threads
# missed twice as many of their own ten nearest at a beam of 1,024 (148 against 71 one by
# one; calls of 1,000: 75).
BULK_LINK_CHUNK = 1024
BULK_LINK_THREADS = 2
BULK_LINK_MIN_GRAPH = 10_000
# The linker's CPU priority below the threads answering requests (Linux niceness): a
# search, an append or a tree build that wants a core takes it first, and the linker
# has what they leave. What waits to be linked is searchable meanwhile (scanned exactly)
# and bounded by ``max_unlinked``, so writers still wait for it when it falls behind.
LINKER_NICENESS = 5
# The collection's tree builds (hierarchy.building) hold the linker back until the tail
# reaches this share of ``max_unlinked``; from there it links beside them, so writers do
# not wait for room. How often a held linker looks again:
HELD_UNTIL_SHARE = 0.9
HELD_POLL_S = 0.05
# Writes of at most this many vectors (a live stream's) are linked at the live expansion
# (``IndexParams.live_expansion_add``); larger ones, a bulk load's, at ``expansion_add``.
LIVE_WRITE_ROWS = 256
# The tail's candidates for a search: its best by its own product, and every other within
# this of the last of them, relative (the table's scores, which rank them, differ in the
# last bits: up to 2.4e-4 on L2 distances near 1,000, under 1e-6 on unit vectors); at most
# this many more (many identical vectors waiting: the lowest keys, as the table ties them).
NEAR_TIE = 1e-4
NEAR_ROOM = 1024
COUNTED = ("count", "watermark")  # sidecar fields load reads as counts: anything else, and the level is rebuilt


StoredVectors = Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]]  # (keys, rows) up to a commit, by key
StoredKeys = Callable[[int], np.ndarray]  # the keys committed up to a commit


@dataclass(frozen=True)
class IndexState:
    """What a saved index covers, as recorded in its sidecar."""

    count: int
    watermark: int


_OPEN: weakref.WeakSet[LevelIndex] = weakref.WeakSet()


@atexit.register
def _stop_linkers() -> None:
    # A linker thread still inside USearch when the interpreter tears down aborts the
    # process (a C++ thread destroyed while running); stop them first. Nothing is lost:
    # unlinked vectors are caught up from the store on the next open.
    for index in list(_OPEN):
        index.stop_linking(timeout=5.0)


class LevelIndex:
    """A USearch index over the vectors of one level of one collection.

    A write is searchable when :meth:`add` returns: its vectors join the in-memory table
    and the unlinked tail (scanned exactly by every search) at once, and a background
    thread links them into the HNSW graph, oldest write first. When more than
    ``max_unlinked`` vectors wait, :meth:`add` waits for the linker, so the exact scan
    stays bounded; a single write larger than that is linked before :meth:`add` returns.

    Locks: writers (add, remove, clear, load) take ``_write_lock`` one at a time; every
    change of the graph (linking, removing, saving) holds ``_graph_lock``, so a save sees
    whole writes and a removal never races the link of the same key. Readers take no lock.
    """

    def __init__(
        self,
        path: Path,
        dimension: int,
        metric: Metric,
        params: IndexParams,
        max_unlinked: int = 100_000,
        busy: Callable[[], bool] = lambda: False,
        scanned_whole: bool = False,
    ) -> None:
        """``scanned_whole``: the level is mostly scanned whole rather than read a few rows
        at a time (the segment level): its scan copy is held as columns (hierarchy.scan)."""
        self.path = path
        self.dimension = dimension
        self.metric = metric
        self.params = params
        self.max_unlinked = max_unlinked
        self.watermark = 0  # the latest commit searches cover (the tail included)
        self.linked_watermark = 0  # the latest commit whose every vector is in the graph
        self._write_lock = threading.Lock()
        self._graph_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._files_deleted = False  # the collection was deleted: no save may write again
        self._linker_lock = threading.Lock()
        self._linked = threading.Condition(self._linker_lock)  # notified after each linked write
        self._linker: threading.Thread | None = None
        self._busy = busy  # whether the collection builds trees: the linker waits it out
        self._room_wanted = 0  # writers waiting for the linker to free room in the tail
        self._stopping = False  # set when the index is closed: the linker ends
        self._index = self._new_index()
        self._tail = UnlinkedTail(dimension)
        self._version = 0  # bumped by every change; ``dirty`` compares it with the saved one
        # Rows deleted since open, but for those a rebuild of their video's tree replaced: with
        # the level's size, how far it drifted from its calibration statistics (a delete and
        # an add of as many nodes leave the size as it was).
        self.deleted = 0
        self._saved_version = 0
        # The same vectors by key, for exact scoring of any subset (see hierarchy.vectortable).
        self._table = VectorTable(dimension, TABLE_DTYPES.get(params.dtype, np.float32))
        # Float32 rows while the level is small enough to scan.
        self._scan = ScanCopy(self._table, columns=scanned_whole)
        _OPEN.add(self)

    def _new_index(self) -> Index:
        return Index(
            ndim=self.dimension,
            metric=self.metric.value,
            dtype=self.params.dtype,
            connectivity=self.params.connectivity,
            expansion_add=self.params.expansion_add,
            expansion_search=self.params.expansion_search,
        )

    def __len__(self) -> int:
        return len(self._table)

    @property
    def unlinked(self) -> int:
        """Vectors searchable (by exact scan) but not yet in the HNSW graph (none removed)."""
        return self._tail.waiting()

    @property
    def exact(self) -> bool:
        """Whether searches scan every vector at the current size."""
        return len(self._table) < self.params.exact_below

    def add(self, keys: np.ndarray, vectors: np.ndarray, watermark: int) -> None:
        """Make vectors under keys not yet present searchable; advance the watermark."""
        with self._write_lock:
            keys = np.asarray(keys, np.int64)
            fresh = ~self._table.contains(keys)
            if not fresh.all():  # a write's keys are new; a recovery's catch-up can hold stored ones
                keys, vectors = keys[fresh], np.asarray(vectors)[fresh]
            rows = np.ascontiguousarray(vectors, np.float32)
            if len(keys) > self.max_unlinked:  # a rebuild: link it here, after what waits
                self._table.add(keys, rows)
                self.link_all()
                with self._graph_lock:
                    self._index.expansion_add = self.params.expansion_add
                    # Stopped part-way (the process is closing): the watermark stays, so a
                    # restart catches up what was not linked instead of trusting the file.
                    if self._link(keys, rows, BULK_LINK_CHUNK, BULK_LINK_THREADS):
                        self.linked_watermark = max(self.linked_watermark, watermark)
                    self._version += 1
            elif len(keys):
                self._wait_for_room(len(keys))
                # Rounded once for table and tail: numpy's float16 cast is scalar (2.1 ms/1,000 512-d rows).
                stored = rows.astype(self._table.dtype, copy=False)
                # The table first: a search that finds a key anywhere must find its vector.
                self._table.add(keys, stored)
                # At the graph's precision, so an answer scores the same before and after linking.
                self._tail.append(keys, stored.astype(np.float32, copy=False), watermark)
                self._bump()
                self._start_linker()
            self.watermark = max(self.watermark, watermark)

    def remove(self, keys: np.ndarray, replaced: bool = False) -> None:
        """Remove keys (USearch keeps tombstones until the next rebuild); ``replaced``: by a
        rebuild of their video's tree, whose new nodes describe the same segments."""
        if len(keys) == 0:
            return
        keys = np.asarray(keys, np.int64)
        with self._write_lock, self._graph_lock:
            # The graph and the tail first, for the same reason; a search that found a key
            # just before may still miss its vector (see ``present_vectors``).
            self._index.remove(keys.astype(np.uint64))
            self._tail.remove(keys)
            removed = self._table.remove(keys)
            self._version += 1
            self.deleted += 0 if replaced else removed

    def clear(self) -> None:
        """Drop every vector (before a rebuild)."""
        with self._write_lock, self._graph_lock:
            self._index = self._new_index()
            self._tail.clear()
            self._table.clear()
            self.watermark = self.linked_watermark = 0
            self._version += 1

    def link_all(self) -> None:
        """Link every waiting vector into the graph now, in the caller's thread."""
        while self._link_oldest():
            pass

    def read_ahead(self) -> None:
        """Bring the float32 copy a small level is scanned from up to date now, as its next
        search would (8,743 scenes: 20 ms); drop it once the level outgrew scanning. A level
        never searched gets none: the copy is 2 KB a row at 512-d."""
        if not self._scan.held:
            return
        if self.exact:
            self._scan.current(read=False)
        else:
            self._scan.release()

    def search(self, query: np.ndarray, count: int, graph: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` nearest keys and their similarities, best first; with ``graph``,
        found through the graph even where the level is small enough to scan (a caller
        that wants good candidates fast rather than the exact best)."""
        if count <= 0 or len(self._table) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.ascontiguousarray(query, np.float32)
        rounded = query.astype(self._table.dtype).astype(np.float32)  # as the graph sees it
        if not self.exact and self._scan.held:  # the level outgrew scanning: its copy is dead weight
            self._scan.release()
        if self.exact and not graph:  # small enough to scan: the table, waiting vectors too, ranks all
            return self._scan_table(rounded, count)
        # The tail before the graph: a write linked in between is then seen twice (and
        # merged), never missed.
        tail_keys, dots, norms = self._tail.scan(rounded)
        factor = RESCORE_FACTOR if self.params.dtype in QUANTIZED else 1
        found, _ = self._graph_search(query, factor * count)
        if len(tail_keys):
            tail_sims = similarity_of(self.metric, dots, norms, rounded)
            near = order.near_best(tail_keys, tail_sims, count, NEAR_TIE, count + NEAR_ROOM)
            found = np.concatenate([found, tail_keys[near]])
        # Every answer scored again as :meth:`score` scores it: a vector must score the
        # same, to the bit, waiting and linked (the tail's product and the graph's own
        # distances differ in the last bits), or tied answers linked between two pages move
        # across the first page's cursor, skipped or listed twice.
        return self.score(np.unique(found), query, count)

    def _graph_search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._index) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # Not capped at the current size: vectors linked while this search runs may take
        # places, and a ranking asked for more than there is must still hold every older one.
        # USearch widens the beam to at least ``count`` on its own, so deep pages stay exact
        # enough without touching the shared expansion setting.
        # One thread: a single query gains nothing from a pool, and requests already run
        # side by side.
        matches = self._index.search(query, count, threads=1)
        keys = np.asarray(matches.keys, dtype=np.int64)
        sims = similarity_from_distance(self.metric, np.asarray(matches.distances, np.float32))
        ranked = order.best_first(keys, sims)  # the graph leaves ties in no set order
        return keys[ranked], sims[ranked]

    def _scan_table(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` best of every stored vector, scored from the table's float32 copy
        (see hierarchy.scan): matrix products that concurrent searches run side by side."""
        scan = self._scan.current()
        if scan is None:  # no room for the copy in the process's budget (see hierarchy.scan)
            state = self._table.in_place()
            return self._score_stored(state.keys[state.alive], query, count)
        return scan.best(query, count, self.metric)

    def _wait_for_room(self, incoming: int) -> None:
        """Hold a writer while the tail is full (the linker frees room write by write)."""
        with self._linked:
            self._room_wanted += 1
            self._linked.notify_all()  # a linker waiting out tree builds links now
            try:
                while len(self._tail) and len(self._tail) + incoming > self.max_unlinked:
                    if self._linker is None:
                        break  # nothing would free room; never wait forever
                    self._linked.wait(timeout=1.0)
            finally:
                self._room_wanted -= 1

    def _start_linker(self) -> None:
        with self._linker_lock:
            if self._linker is None and not self._stopping:
                self._linker = threading.Thread(target=self._link_waiting, name=f"link {self.path.name}", daemon=True)
                self._linker.start()
            self._linked.notify_all()  # a held linker looks again at the tail this write grew

    def _link_waiting(self) -> None:
        """The linker thread: link writes oldest first until none waits."""
        process.run_in_background(LINKER_NICENESS)
        while True:
            self._wait_out_builds()
            failed = False
            try:
                linked = self._link_oldest()
            except Exception:  # noqa: BLE001 - a failed link must not strand the writers
                log.exception("linking vectors into %s failed; they stay searchable by exact scan", self.path)
                linked, failed = False, True
            with self._linked:
                # A write that joined the tail after the look found it empty saw this thread
                # running and started none: it is linked here, not left for the next write.
                # After a failure the thread ends; the next write retries (see _link).
                if not linked and (failed or self._stopping or not len(self._tail)):
                    self._linker = None
                    self._linked.notify_all()
                    return
                self._linked.notify_all()

    def _wait_out_builds(self) -> None:
        """Leave the cores to the collection's tree builds while they run, no writer waits
        for room and the tail is below ``HELD_UNTIL_SHARE`` of its bound."""
        with self._linked:
            bound = HELD_UNTIL_SHARE * self.max_unlinked
            while not (self._stopping or self._room_wanted) and 0 < len(self._tail) < bound and self._busy():
                self._linked.wait(timeout=HELD_POLL_S)

    def _link_oldest(self) -> bool:
        """Link the oldest waiting write; False when none waits."""
        with self._graph_lock:
            batch = self._tail.oldest()
            if batch is None or self._stopping:
                return False
            live = self._table.contains(batch.keys)  # removed while waiting: left out
            bulk = 2 * len(self._tail) >= self.max_unlinked
            chunk, threads = (BULK_LINK_CHUNK, BULK_LINK_THREADS) if bulk else (1, 1)
            small = len(batch.keys) <= LIVE_WRITE_ROWS
            self._index.expansion_add = (small and self.params.live_expansion_add) or self.params.expansion_add
            if live.any() and not self._link(batch.keys[live], batch.rows[live], chunk, threads):
                return False  # stopped part-way: the index is being closed, its files already saved
            self._tail.drop_oldest()
            self.linked_watermark = max(self.linked_watermark, batch.watermark)
            self._bump()
            return True

    def _link(self, keys: np.ndarray, rows: np.ndarray, chunk: int = 0, threads: int = 1) -> bool:
        # A search waits for the insertion call under way, so the background linker inserts
        # a vector per call unless the tail is half full (see BULK_LINK_CHUNK): searches during
        # linking then wait ~3 ms, not a whole write's worth (45 ms for 16 vectors at 30k).
        ids = keys.astype(np.uint64)
        # A link that failed part-way left some of these in the graph: a retry adds the rest.
        linked = np.asarray(self._index.contains(ids), bool) if len(self._index) else np.zeros(len(ids), bool)
        if linked.any():
            ids, rows = ids[~linked], rows[~linked]
        step = chunk or max(len(ids), 1)
        for lo in range(0, len(ids), step):
            if self._stopping:
                return False
            parallel = threads if len(self._index) >= BULK_LINK_MIN_GRAPH else 1
            self._index.add(ids[lo : lo + step], rows[lo : lo + step], threads=parallel)
        return True

    def stop_linking(self, timeout: float = 10.0) -> None:
        """Stop the background linker (after the current vector) and wait for it. For an
        index that is being closed or dropped: what still waits stays unlinked."""
        self._stopping = True
        with self._linked:
            self._linked.notify_all()  # a linker waiting out tree builds ends now
            linker = self._linker
        if linker is not None and linker is not threading.current_thread():
            linker.join(timeout)

    def _bump(self) -> None:
        # Writers and the linker change the index under different locks.
        with self._linker_lock:
            self._version += 1

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of ``keys`` is present (a boolean mask, in the order given)."""
        return self._table.contains(keys)

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of ``keys`` as float32 rows (keys must be present)."""
        if len(keys) == 0:
            return np.zeros((0, self.dimension), np.float32)
        return self._table.get(keys)

    def present_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(whether each key is still present, the float32 rows of those that are): keys
        removed since a search found them (a concurrent delete or rebuild) are left out
        instead of failing the search."""
        return self._table.get_present(np.asarray(keys, np.int64))

    def unit_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(whether each key is still present, the rows of those that are scaled to unit
        length), as :meth:`present_vectors` leaves keys out. A level small enough to scan
        reads them from its float32 copy, norms and all: a rerank's look-alike test
        widened and measured the half floats again for every chunk of answers it read."""
        keys = np.asarray(keys, np.int64)
        scan = self._scan.current() if self.exact else None
        if scan is not None:
            present, rows, norms = scan.rows_of(keys)
        else:
            present, rows = self._table.get_present(keys)
            norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))  # as the scan copy measures
        return present, rows / np.maximum(norms, 1e-12)[:, None]

    def score(self, keys: np.ndarray, query: np.ndarray, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` (default: all) of ``keys`` most similar to ``query``, scored exactly
        at the index's precision, best first; keys removed since a search found them are
        left out. A level small enough to scan is scored from its float32 copy; a larger
        one by USearch's SIMD kernels, which read the stored half floats directly
        (converting them for numpy cost four times as much as the scoring)."""
        if self.exact:
            return self._score_scanned(keys, query, count)
        return self._score_stored(keys, query, count)

    def _score_stored(self, keys: np.ndarray, query: np.ndarray, count: int | None) -> tuple[np.ndarray, np.ndarray]:
        present, rows = self._table.rows_of(np.asarray(keys, np.int64))
        wanted = len(present) if count is None else min(count, len(present))
        if wanted <= 0:
            return present[:0], np.zeros(0, np.float32)
        at, sims = exact_top(present, rows, np.ascontiguousarray(query, np.float32), wanted, self.metric)
        return present[at], sims

    def _score_scanned(self, keys: np.ndarray, query: np.ndarray, count: int | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score` from the float32 copy a level small enough to scan is ranked by:
        the scores its unfiltered searches give, and a matrix product (one video's 2,900
        segments, 384-d: 0.07 ms) where USearch's exact search over the half floats took
        0.4 ms, one call in the process at a time."""
        scan = self._scan.current()
        if scan is None:  # no room for the copy in the process's budget (see hierarchy.scan)
            return self._score_stored(keys, query, count)
        rounded = np.ascontiguousarray(query, np.float32).astype(self._table.dtype).astype(np.float32)
        return scan.best(rounded, count, self.metric, among=keys)

    def score_all(self, keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(keys still present, in the order given; a ``(queries, keys)`` matrix of their
        similarities to each row of ``queries``), scored as :meth:`score` scores: one pass
        for several queries (a paragraph's sentences) instead of one each."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        scan = self._scan.current() if self.exact else None
        if scan is not None:  # as score scores such a level: from its float32 copy
            return scan.scores(keys, queries.astype(self._table.dtype).astype(np.float32), self.metric)
        present, rows = self._table.rows_of(np.asarray(keys, np.int64))
        sims = np.zeros((len(queries), len(present)), np.float32)
        if len(present) == 0 or len(queries) == 0:
            return present, sims
        matches = exact_search(rows, queries, len(present), self.metric)
        at = np.asarray(matches.keys, np.int64).reshape(len(queries), -1)
        found = np.asarray(matches.distances, np.float32).reshape(len(queries), -1)
        np.put_along_axis(sims, at, similarity_from_distance(self.metric, found), axis=1)
        return present, sims

    def vector_of(self, key: int) -> np.ndarray | None:
        """The float32 vector of one key, or None when it is not (or no longer) present."""
        present, rows = self.present_vectors(np.array([key], np.int64))
        return rows[0] if present[0] else None

    def keys(self) -> np.ndarray:
        """Every key in the index (the graph's and the unlinked tail's), sorted."""
        with self._graph_lock:
            linked = np.asarray(self._index.keys, np.int64)
            waiting = self._tail.keys()
        return np.sort(np.concatenate([linked, waiting]))

    def sample(self, limit: int, seed: int = 0) -> np.ndarray:
        """Up to ``limit`` stored vectors, chosen at random (all when fewer)."""
        return self._table.sample(limit, seed)

    @property
    def save_lock(self) -> threading.Lock:
        """Held while the index's files are written (see :meth:`save`)."""
        return self._save_lock

    def save(self) -> None:
        """Write the graph and its sidecar atomically. The file covers the writes linked so
        far (its watermark is :attr:`linked_watermark`); a restart catches up the rest from
        the store, so a stop never waits for the linker. One save of an index at a time:
        they share the temporary file."""
        tmp = self.path.with_suffix(".tmp")
        with self._save_lock:
            if self._files_deleted:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                state, saved = self._write_graph(tmp)
                files.fsync(tmp)
                digest = files.sha256(tmp)
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a part-written graph only takes room (a full disk's)
                raise
            sidecar = {"sha256": digest, **asdict(state), "params": asdict(self.params)}
            sidecar.update(dimension=self.dimension, metric=self.metric.value)
            files.write_atomic(self._sidecar_path(), json.dumps(sidecar, indent=1).encode())
            files.fsync_dir(self.path.parent)
            self._saved_version = saved

    def _write_graph(self, tmp: Path) -> tuple[IndexState, int]:
        """Write the graph to ``tmp``: by a forked child where the system forks (writers
        wait only for the fork), else in this process; (what it covers, its version)."""
        with self._graph_lock:
            covered = self._covered()
            child = graphsave.in_child(self._index, tmp)
        if child is not None and graphsave.child_wrote(child, tmp):
            return covered
        with self._graph_lock:  # no child, or it failed: write here, pausing the others
            graphsave.in_process(self._index, tmp)
            return self._covered()

    def _covered(self) -> tuple[IndexState, int]:
        """What the graph holds now, and the index's version (under ``_graph_lock``)."""
        return IndexState(count=len(self._index), watermark=self.linked_watermark), self._version

    @property
    def dirty(self) -> bool:
        """Whether the index changed since it was last saved (or loaded)."""
        return self._version != self._saved_version

    def load(self, stored: StoredVectors | None = None, stored_keys: StoredKeys | None = None) -> IndexState | None:
        """Load the saved index if it is intact and matches; None means rebuild. ``stored``
        gives a quantized graph's vectors (committed up to its watermark, by key), and
        ``stored_keys`` another's keys: nodes deleted since the save leave the loaded graph
        (no rebuild of the level); a graph that lacks a stored node is rebuilt."""
        if not self.path.is_file():  # never saved: built from the store
            return None
        sidecar = files.read_sidecar(self._sidecar_path(), COUNTED)
        if sidecar is None:
            return None
        expected = {"dimension": self.dimension, "metric": self.metric.value}
        saved_params = sidecar.get("params") if isinstance(sidecar.get("params"), dict) else {}
        built = asdict(self.params)
        if any(sidecar.get(k) != v for k, v in expected.items()) or any(
            saved_params.get(k) != built[k] for k in BUILT_WITH
        ):
            log.warning("index %s was built with other parameters; rebuilding", self.path)
            return None
        if files.sha256(self.path) != sidecar.get("sha256"):
            log.warning("index %s fails its checksum; rebuilding", self.path)
            return None
        index = self._new_index()
        index.load(str(self.path))
        index.expansion_search = self.params.expansion_search  # this run's, not the file's
        if len(index) != sidecar["count"]:
            log.warning(
                "index %s: %d vectors, its sidecar says %d; rebuilding", self.path, len(index), sidecar["count"]
            )
            return None
        watermark, graph_keys = int(sidecar["watermark"]), np.asarray(index.keys, np.int64)
        if self.params.dtype not in QUANTIZED:
            kept = np.asarray(stored_keys(watermark), np.int64) if stored_keys is not None else graph_keys
            held = np.isin(graph_keys, kept)
            table, wanted = table_of(index.get, self.dimension, graph_keys[held], self._table.dtype), len(kept)
        elif stored is None:
            return None
        else:
            table = VectorTable(self.dimension, self._table.dtype)
            for keys, rows in stored(watermark):
                table.add(keys, rows)
            held, wanted = table.contains(graph_keys), len(table)
        if int(held.sum()) != wanted:
            log.warning("index %s holds other vectors than the store; rebuilding", self.path)
            return None
        index.remove(graph_keys[~held].astype(np.uint64))
        with self._write_lock, self._graph_lock:
            self._index = index
            self._table = table
            self._scan = ScanCopy(table, columns=self._scan.columns)
            self._tail.clear()
            self.watermark = self.linked_watermark = watermark
        return IndexState(count=len(index), watermark=self.watermark)

    def delete_files(self) -> None:
        """Remove the saved files (the collection is gone), after a save under way; none follows."""
        with self._save_lock:
            self._files_deleted = True
            for path in (self.path, self._sidecar_path(), self.path.with_suffix(".tmp")):
                path.unlink(missing_ok=True)

    def _sidecar_path(self) -> Path:
        return self.path.with_suffix(".json")
