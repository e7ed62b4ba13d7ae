"""The level indexes of every collection: made on first use, recovered from the store on
start, saved when asked. One :class:`LevelIndex` per (collection, level), in
``<data dir>/indexes/c<collection id>/<level>.usearch``."""

from __future__ import annotations

import errno
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import duckdb

from hierarchy import catalog, indexdir, nodes
from hierarchy.building import Building
from hierarchy.errors import NotFound
from hierarchy.index import LevelIndex
from hierarchy.indexparams import QUANTIZED, IndexParams
from hierarchy.types import Collection, Level, LevelStats, Metric

log = logging.getLogger(__name__)
# A save that failed for want of room (a full disk, a quota, a file size limit, or a
# write USearch saw fail part-way: hierarchy.graphsave).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
UNQUANTIZED = "f16"  # the precision of a quantized level's graph in a space that cannot quantize


def narrowed(params: IndexParams, expansion_search: int, expansion_add: int, dtype: str = "") -> IndexParams:
    """``params`` with the settings that are set (non-zero, non-empty) replaced: the segment
    level's, whose searches the tree narrows (see ``DatabaseOptions.narrowed_expansion_add``)."""
    changes = {"expansion_search": expansion_search, "expansion_add": expansion_add, "dtype": dtype}
    # Writes linked one at a time (live ingest) keep every level's expansion: a vector linked
    # at 64 into 200 k benchmark vectors missed its own ten nearest 63 times in 2,000 (at a
    # beam of 64), at 128 four times, and a live video has no scenes yet to narrow by.
    live = params.live_expansion_add or params.expansion_add
    return replace(params, live_expansion_add=live, **{name: value for name, value in changes.items() if value})


class LevelIndexes:
    """Every level index of a data directory."""

    def __init__(
        self, root: Path, params: IndexParams, max_unlinked: int = 100_000, segment_params: IndexParams | None = None
    ) -> None:
        self.root = root
        self.params = params
        self.max_unlinked = max_unlinked
        # The segment level's parameters when they differ (a search narrowed by the tree
        # asks less of the segment graph; see DatabaseOptions.narrowed_expansion_add).
        self.segment_params = segment_params or params
        self._lock = threading.Lock()
        self._indexes: dict[tuple[int, Level], LevelIndex] = {}
        self._dropped: set[int] = set()  # deleted collections (ids are never reused)
        self._building: dict[int, Building] = {}  # per collection: the builds its linkers wait out

    def get(self, coll: Collection, level: Level) -> LevelIndex:
        """The index of a collection's level, made (empty) on first use."""
        key = (coll.id, level)
        with self._lock:
            if coll.id in self._dropped:
                # A request that found the collection before it was deleted: making its
                # index again would leave files nothing deletes.
                raise NotFound(f"collection {coll.name!r} was deleted", "collection")
            index = self._indexes.get(key)
            if index is None:
                path = self.root / f"c{coll.id}" / f"{level.label}.usearch"
                params = self.segment_params if level is Level.SEGMENT else self.params
                if params.dtype in QUANTIZED and coll.space.metric is not Metric.COSINE:
                    # USearch quantizes the direction of a cosine space's vectors; other
                    # metrics need their lengths, which 8 bits would clip.
                    params = replace(params, dtype=UNQUANTIZED)
                busy = self._building_of(coll.id).busy
                # Routed searches scan the segment level whole; a parent level past a few
                # thousand nodes is read through its graph, its candidates' rows gathered.
                space = coll.space
                whole = level is Level.SEGMENT
                index = LevelIndex(path, space.dimension, space.metric, params, self.max_unlinked, busy, whole)
                self._indexes[key] = index
            return index

    def building(self, cid: int) -> AbstractContextManager[None]:
        """A block building a tree of a collection, which its linkers wait out (see
        hierarchy.building)."""
        with self._lock:
            if cid in self._dropped:
                return nullcontext()
            work = self._building_of(cid)
        return work.running()

    def _building_of(self, cid: int) -> Building:
        """The builds of a collection, made on first use (under ``_lock``)."""
        if cid not in self._building:
            self._building[cid] = Building()
        return self._building[cid]

    def find(self, cid: int, level: Level) -> LevelIndex | None:
        """The index of a collection's level if one was made."""
        with self._lock:
            return self._indexes.get((cid, level))

    def lag(self, cur: duckdb.DuckDBPyConnection) -> dict[tuple[str, Level], int]:
        """Per (collection, level): the store's highest sequence minus the index's watermark."""
        out = {}
        for coll in catalog.all_collections(cur):
            for level, (_, max_seq) in nodes.level_counts(cur, coll.id).items():
                index = self.find(coll.id, level)
                out[(coll.name, level)] = max(0, max_seq - (index.watermark if index else 0))
        return out

    def level_stats(self, cur: duckdb.DuckDBPyConnection, cid: int) -> list[LevelStats]:
        """A collection's counts for every level, segment to video: its stored nodes and
        its index's coverage, zero where the level holds nothing.

        Whether an index is in memory says nothing to a caller: a search or a read ahead
        makes an empty level's index, a restart recovers only the levels holding nodes. The
        answer must not change with it, so every level is listed, and one holding neither
        nodes nor vectors reports no watermark (a restart does not keep it)."""
        counts = nodes.level_counts(cur, cid)
        out = []
        for level in Level:
            index = self.find(cid, level)
            count = counts.get(level, (0, 0))[0]
            if index is not None and (count or len(index)):
                out.append(LevelStats(level, count, len(index), index.watermark, index.exact, index.unlinked))
            else:
                out.append(LevelStats(level, count, 0, 0, True, 0))
        return out

    def of_collection(self, cid: int) -> dict[Level, LevelIndex]:
        """The indexes made for a collection, by level."""
        with self._lock:
            return {level: index for (owner, level), index in self._indexes.items() if owner == cid}

    def drop_collection(self, cid: int) -> None:
        """Forget a deleted collection's indexes and remove their files."""
        with self._lock:
            self._dropped.add(cid)
            self._building.pop(cid, None)
            dropped = [self._indexes.pop((cid, level)) for level in Level if (cid, level) in self._indexes]
        for index in dropped:
            index.stop_linking()
            index.delete_files()
        shutil.rmtree(self.root / f"c{cid}", ignore_errors=True)

    def remove_orphans(self, live: set[int]) -> None:
        """At open, before any index is used: remove the directories of collections that
        are not in ``live`` (a crash between a delete's commit and its file removal left
        them) and every temporary file a save cut off by a crash left."""
        if not self.root.is_dir():
            return
        # Only collections' directories, and in them only regular files (what is of another
        # shape there was moved aside at open: hierarchy.indexdir): nothing else is Strata's.
        owned = [p for p in self.root.iterdir() if indexdir.is_collection_dir(p.name) and _real_directory(p)]
        for path in owned:
            if int(path.name[1:]) not in live:
                log.warning("removing %s: its collection was deleted", path)
                shutil.rmtree(path, ignore_errors=True)
        for tmp in (tmp for path in owned for tmp in path.glob("*.tmp")):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)

    def stop_linking(self) -> None:
        """Stop every background linker (the database is closing)."""
        with self._lock:
            every = list(self._indexes.values())
        for index in every:
            index.stop_linking()

    @contextmanager
    def saves_paused(self) -> Iterator[None]:
        """Hold every index's save (a graph file and its sidecar are replaced one after the
        other): while a snapshot copies them, no save changes one of a pair."""
        with self._lock:
            every = list(self._indexes.values())
        with ExitStack() as held:
            for index in every:
                held.enter_context(index.save_lock)
            yield

    def save(self, changed_only: bool = False, no_room_ok: bool = False) -> int:
        """Persist every index (or only those changed since their last save); returns how
        many were written. Writers of an index wait while it is forked (without a fork, while it
        is written); searches go on. ``no_room_ok``: an index the disk has no room for is
        left as last saved (see :meth:`_saved`)."""
        with self._lock:
            every = list(self._indexes.values())
        written = 0
        for index in every:
            if changed_only and not index.dirty:
                continue
            written += self._saved(index, no_room_ok)
        return written

    @staticmethod
    def _saved(index: LevelIndex, no_room_ok: bool) -> bool:
        """Save ``index``; whether it was. A saved index is a cache of the store: with
        ``no_room_ok``, a save that finds no room leaves its files as last saved (a start
        catches them up) and the index in memory serves (it stays dirty: a later save
        writes it), where a start, or a snapshot, failed on it. A file it may not write
        is raised as ever."""
        try:
            index.save()
        except OSError as exc:
            if not no_room_ok or exc.errno not in NO_ROOM:
                raise
            log.warning("index %s could not be saved (%s); its last saved files stay", index.path, exc)
            return False
        return True

    def recover(self, cur: duckdb.DuckDBPyConnection, coll: Collection, level: Level) -> None:
        """Load the saved index if it agrees with the store at its watermark, then catch it
        up with later commits; otherwise rebuild it from the store."""
        index = self.get(coll, level)
        state = index.load(
            lambda watermark: nodes.vectors_until(cur, coll.id, level, watermark),
            lambda watermark: nodes.keys_until(cur, coll.id, level, watermark),
        )
        if state is not None and nodes.count_at_or_before(cur, coll.id, level, state.watermark) != state.count:
            log.warning("index %s disagrees with the store; rebuilding", index.path)
            state = None
        if state is None:
            index.clear()
        keys, vectors, seq = nodes.vectors_since(cur, coll.id, level, index.watermark)
        index.add(keys, vectors, seq)
        if state is None or len(keys):
            log.info(
                "index %s: %s %d vectors", index.path, "rebuilt with" if state is None else "caught up by", len(keys)
            )
            self._saved(index, no_room_ok=True)


def _real_directory(path: Path) -> bool:
    """A directory, not a link to one (a collection's leftovers are removed only inside
    the data directory; a link there was moved aside at open: hierarchy.indexdir)."""
    return path.is_dir() and not path.is_symlink()
