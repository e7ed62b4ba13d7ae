"""The database facade: the one place that sequences writes across DuckDB and USearch.

Write ordering (every write takes its collection's write lock):

1. check the request (before the lock; texts to embed against the store too, before they
   are embedded), then against the store under it; nothing is written on any error;
2. commit it to DuckDB in one transaction (nodes, and the request id for retries);
3. add the new vectors to the level's USearch index;
4. acknowledge.

Recovery order on :meth:`Database.open`:

1. take the data directory's lock file (a second server fails here, clearly);
2. open DuckDB, which replays its write-ahead log, and migrate the schema;
3. (:meth:`Database.recover`) for every collection and level, load the saved index if
   its checksum, parameters and count agree with the store at the index's watermark,
   then catch it up with the rows committed after the watermark; otherwise rebuild it
   from the store.

DuckDB is the source of truth: a crash between steps 2 and 3 of a write loses nothing,
because the next open catches the index up. Indexes are saved on :meth:`close` and
:meth:`save_indexes`.

A snapshot (:meth:`snapshot`) holds the catalog lock and every collection's write lock
while it checkpoints DuckDB, saves the indexes and copies both, so it sees no write half
done; a restored snapshot recovers like any data directory. :meth:`verify` checks that
the indexes and trees agree with the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np

from hierarchy import builds, catalog, datadir, files, ingest, nodes, paging, process, treerows, validate
from hierarchy import snapshot as snapshots
from hierarchy.builder import HierarchyConfig
from hierarchy.encoder import get_encoder
from hierarchy.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from hierarchy.graph import GraphCache
from hierarchy.index import LevelIndex
from hierarchy.indexes import LevelIndexes
from hierarchy.locks import WriteLocks
from hierarchy.navigate import Navigator
from hierarchy.nodecache import NodeCache
from hierarchy.noderows import NodeRows
from hierarchy.operations import Operation, Operations
from hierarchy.options import DatabaseOptions
from hierarchy.query import ParsedQuery, parse
from hierarchy.searcher import Searcher
from hierarchy.types import (
    AppendResult,
    Collection,
    CollectionStats,
    EmbeddingSpace,
    Level,
    SearchQuery,
    SearchResult,
    SegmentInput,
    Video,
    VideoState,
)
from hierarchy.verify import VerifyReport, check_collection

log = logging.getLogger(__name__)
T = TypeVar("T")

# Tree builds committed only if their video did not change while they ran (see
# ``Database._build``); the next is built under the write lock.
OPTIMISTIC_BUILDS = 2


class Database:
    """Strata's core: collections, videos, segments and search over one data directory."""

    def __init__(self, data_dir: Path, options: DatabaseOptions) -> None:
        self.data_dir = data_dir
        self.options = options
        self._lock_file, self.store, self.keys, self.sequence, self.commits = datadir.open_directory(data_dir, options)
        self._catalog_lock = threading.Lock()
        self._abandon = threading.Event()  # set when a recovery under way must stop (abandon_recovery)
        self._locks = WriteLocks()
        self.indexes = LevelIndexes(data_dir / "indexes", options.index, options.max_unlinked, options.segment_index())
        self._collections: dict[str, Collection] = {}
        self._closed = False
        self._recovered = False  # set by recover()
        self._unread = False  # set while recover() reads, left set if a read fails: then close writes nothing
        self.graphs = GraphCache()
        rows = NodeRows(self.store.cursor) if options.resident_nodes else None
        self.node_cache = NodeCache(self.store.cursor, options.node_cache_size, rows)
        self.operations = Operations()
        self.navigator = Navigator(
            self.store, self.graphs, self._collection, self._index, options.max_top_k, options.max_page_size
        )
        self.searcher = Searcher(
            self.store, self._collection, self._index, self.navigator, self.node_cache, options, self.commits
        )

    @classmethod
    def open(cls, data_dir: Path | str, options: DatabaseOptions | None = None, recover: bool = True) -> Database:
        """Open (creating if needed) the database in ``data_dir`` and recover its indexes.

        With ``recover=False`` only steps 1 and 2 of recovery run; the caller runs
        :meth:`recover` later (a server does, while its health check says NOT_SERVING).
        """
        path = Path(data_dir).expanduser()
        process.make_directory(path)
        db = cls(path, options or DatabaseOptions())
        if recover:
            try:
                db.recover()
            except BaseException:
                db.close()  # a store found damaged must not keep the directory locked
                raise
        return db

    # -- collections -------------------------------------------------------------------

    def create_collection(
        self, name: str, space: EmbeddingSpace, hierarchy: dict[str, Any] | None = None
    ) -> Collection:
        """Create a collection; the text encoder (if any) is loaded to learn its dimension.

        ``hierarchy`` overrides tree-builder defaults; the result is stored with the data.
        """
        validate.collection_name(name)
        tree_config = validate.hierarchy_config(HierarchyConfig(), hierarchy or {})
        validate.space_names(space)  # before an encoder named by the client is looked for
        encoder_dim = get_encoder(space.text_encoder).dimension if space.text_encoder else None
        space = validate.space(space, encoder_dim)
        with self._catalog_lock:
            with self.store.transaction() as cur:
                if catalog.get_collection(cur, name) is not None:
                    raise AlreadyExists(f"collection {name!r} already exists; pick another name", "name")
                config = {"index": asdict(self.options.index), "hierarchy": asdict(tree_config)}
                catalog.insert_collection(cur, name, space, config)
            created = catalog.get_collection(self.store.cursor(), name)  # before a delete can run
            assert created is not None  # deletes take this lock
            self._collections[name] = created
        return created

    def hierarchy_config(self, collection: str) -> HierarchyConfig:
        """The collection's tree-builder parameters."""
        stored = self._collection(collection).config.get("hierarchy", {})
        return validate.stored_hierarchy(stored)

    def set_hierarchy_config(self, collection: str, overrides: dict[str, Any]) -> HierarchyConfig:
        """Change some tree-builder parameters of a collection (used by later builds)."""
        coll = self._collection(collection)
        validate.hierarchy_config(self.hierarchy_config(collection), overrides, "config")
        with self._locks.writing(coll):
            # Merged with the stored parameters under the lock: two changes at once both land.
            stored = catalog.get_collection(self.store.cursor(), collection)
            config = stored.config if stored is not None and stored.id == coll.id else coll.config
            merged = validate.stored_hierarchy(config.get("hierarchy", {}))
            merged = validate.hierarchy_config(merged, overrides, "config")
            with self.store.transaction() as cur:
                catalog.set_collection_config(cur, coll.id, {**config, "hierarchy": asdict(merged)})
        self._reload_collection(collection)  # after the lock: a delete takes the catalog lock first
        return merged

    def get_collection(self, name: str) -> Collection:
        """A collection with its current counts."""
        validate.collection_name(name)
        found = catalog.get_collection(self.store.cursor(), name)
        if found is None:
            raise NotFound(f"collection {name!r} does not exist", "name")
        return found

    def list_collections(self, page_size: int = 0, page_token: str = "") -> tuple[list[Collection], str]:
        """One page of collections in name order, and the next page's token."""
        size = validate.page_size(page_size, limit=self.options.max_page_size)
        after = paging.decode_name(page_token, "collections")
        page = catalog.list_collections(self.store.cursor(), after, size + 1)
        token = paging.encode(page[size - 1].name, "collections") if len(page) > size else ""
        return page[:size], token

    def delete_collection(self, name: str) -> None:
        """Delete a collection with its videos, nodes and index files."""
        collection = self._collection(name, "name")
        with self._catalog_lock, self._locks.lock(collection.id):
            if not self._locks.alive(collection.id):  # another delete of it went first
                raise NotFound(f"collection {name!r} does not exist", "name")
            with self.store.deleting, self.store.transaction() as cur:
                catalog.delete_collection(cur, collection.id)
                nodes.record_last(cur, self.commits.last_stored())
            self._locks.deleted(collection.id)
            self.indexes.drop_collection(collection.id)
            self.searcher.forget_collection(collection.id)
            self._collections.pop(name, None)
            self.node_cache.invalidate()
            self.graphs.invalidate(collection.id)  # a tree being built for it is not committed
            self.commits.forget(collection.id)
            self.commits.committed()

    # -- videos ------------------------------------------------------------------------

    def create_video(
        self,
        collection: str,
        video_id: str,
        duration_ms: int = 0,
        attributes: dict[str, Any] | None = None,
        hints: dict[Level, list[int]] | None = None,
    ) -> Video:
        """Register a video (state OPEN), optionally with cut times per level."""
        coll = self._collection(collection)
        validate.identifier(video_id, "video_id")
        validate.duration(duration_ms)
        attrs = validate.attributes(attributes or {}, "attributes")
        cuts = validate.hints(hints or {}, duration_ms=duration_ms)
        with self._locks.writing(coll), self.store.transaction() as cur:
            if catalog.get_video(cur, coll, video_id) is not None:
                raise AlreadyExists(f"video {video_id!r} already exists in {collection!r}", "video_id")
            catalog.insert_video(cur, coll.id, video_id, duration_ms, attrs, cuts)
            created = catalog.get_video(cur, coll, video_id)  # a delete waits for this lock
        assert created is not None
        return created

    def get_video(self, collection: str, video_id: str) -> Video:
        """One video with its segment count."""
        coll = self._collection(collection)
        validate.identifier(video_id, "video_id")
        found = catalog.get_video(self.store.cursor(), coll, video_id)
        if found is None:
            raise NotFound(f"video {video_id!r} does not exist in collection {collection!r}", "video_id")
        return found

    def list_videos(self, collection: str, page_size: int = 0, page_token: str = "") -> tuple[list[Video], str]:
        """One page of a collection's videos in id order, and the next page's token."""
        coll = self._collection(collection)
        size = validate.page_size(page_size, limit=self.options.max_page_size)
        owner = paging.digest("videos", collection)
        after = paging.decode_name(page_token, owner, collection_id=coll.id)
        page = catalog.list_videos(self.store.cursor(), coll, after, size + 1)
        token = paging.encode(page[size - 1].id, owner, coll.id) if len(page) > size else ""
        return page[:size], token

    def delete_video(self, collection: str, video_id: str, only_if_empty: bool = False) -> None:
        """Delete a video and all its nodes, from the store and the indexes; with
        ``only_if_empty``, only a video that holds no segment (else FailedPrecondition),
        checked under the lock appends take: no segment stored meanwhile goes with it."""
        coll = self._collection(collection)
        self.get_video(collection, video_id)
        with self._locks.writing(coll):
            found = self.get_video(collection, video_id)  # again under the lock: another delete may have gone first
            if only_if_empty and found.segment_count:
                raise FailedPrecondition(
                    f"video {video_id!r} holds segments ({found.segment_count}), so it was kept: only_if_empty "
                    "deletes an empty video; leave it out to delete the video with its segments",
                    "video_id",
                )
            keys = nodes.video_keys(self.store.cursor(), coll.id, video_id)
            with self.store.deleting, self.store.transaction() as cur:
                catalog.delete_video(cur, coll.id, video_id)
                nodes.record_last(cur, self.commits.last_stored())
            for level, level_keys in keys.items():
                self._index(coll, level).remove(level_keys)
            self.graphs.invalidate(coll.id, video_id)
            self.node_cache.forget(nodes.every_key(keys))
            self.commits.rewritten(coll.id, list(Level))
            self.commits.committed()
            self.searcher.written(coll)

    # -- segments ----------------------------------------------------------------------

    def append_segments(
        self, collection: str, segments: list[SegmentInput], request_id: str = "", deadline: float | None = None
    ) -> AppendResult:
        """Append one atomic batch of segments; a repeated ``request_id`` replays the answer.
        Past ``deadline`` (``time.monotonic()``) a batch not yet stored is refused, DeadlineExceeded."""
        coll = self._collection(collection)
        validate.identifier(request_id, "request_id", allow_empty=True)
        validate.batch_size(len(segments), self.options.max_batch)
        if done := ingest.replayed(self.store.cursor(), coll, request_id, segments):  # a retry of the same segments
            return done
        halt = ingest.stopper(lambda: self._closed, deadline)
        checked = ingest.checked(self.store.cursor(), coll, segments, ingest.encoder_of, halt)
        with self._locks.writing(coll):
            cur = self.store.cursor()
            if done := ingest.replayed(cur, coll, request_id, segments):  # a retry that came meanwhile
                return done
            halt()  # the lock may have been waited for behind a build
            batch = ingest.prepare(cur, coll, checked)
            first_key = self.keys.take(len(segments))
            batch.keys = np.arange(first_key, first_key + len(segments), dtype=np.int64)
            seq = self.sequence.take()
            try:
                with self.store.transaction() as tx:
                    nodes.insert(tx, batch.to_arrow(coll.id, seq))
                    if request_id:
                        nodes.save_request(tx, coll.id, request_id, seq, {"segment_ids": batch.node_ids})
            except duckdb.ConstraintException:
                ingest.taken_id(cur, coll, batch.node_ids)
                raise
            self.commits.stored(seq)
            self.commits.indexing(coll.id, seq)
            self._index(coll, Level.SEGMENT).add(batch.keys, batch.vectors, seq)
            self.commits.committed(coll.id, seq, (Level.SEGMENT,))
            self.searcher.written(coll)
            for video_id in set(batch.video_ids):
                self.graphs.invalidate(coll.id, video_id)
        return AppendResult(batch.node_ids, seq)

    # -- hierarchy ---------------------------------------------------------------------

    def seal_video(self, collection: str, video_id: str, hints: dict[Level, list[int]] | None = None) -> Video:
        """Mark a video complete and build its tree; later appends are refused until reopened.

        ``hints``, when given, replace the video's cut times before the build.
        """
        coll = self._collection(collection)
        validate.identifier(video_id, "video_id")
        cuts = validate.hints(hints or {}, duration_ms=lambda: self.get_video(collection, video_id).duration_ms)
        built, _ = self._build(coll, video_id, self.hierarchy_config(collection), seal=True, hints=cuts)
        # As committed: reading it back counts its segments again (4 ms at 100 k segments).
        return replace(built.video, state=VideoState.SEALED, hints=built.hints)

    def reopen_video(self, collection: str, video_id: str) -> Video:
        """Let a sealed video take segments again."""
        coll = self._collection(collection)
        self.get_video(collection, video_id)
        with self._locks.writing(coll), self.store.transaction() as cur:
            catalog.set_video_state(cur, coll.id, video_id, VideoState.OPEN)
        return self.get_video(collection, video_id)

    def build_hierarchy(
        self, collection: str, video_ids: list[str] | None = None, overrides: dict[str, Any] | None = None
    ) -> Operation:
        """Rebuild the trees of some or all videos in the background; returns the operation."""
        coll = self._collection(collection)
        validate.hierarchy_config(self.hierarchy_config(collection), overrides or {}, "config")
        videos = builds.targets(self.store.cursor(), coll, list(video_ids or ()))
        if overrides:  # stored only once the whole request is known to be good
            self.set_hierarchy_config(collection, overrides)
        alive = lambda: self._locks.alive(coll.id)  # noqa: E731
        work = builds.work(videos, lambda video_id: self._build_of(coll, video_id), lambda: self._closed, alive)
        return self.operations.start(f"build the trees of {len(videos)} videos of {collection}", len(videos), work)

    def _build_of(self, coll: Collection, video_id: str) -> None:
        """A build operation's step: one video of ``coll``, as long as that collection lives
        (not another of the same name made since), with its current parameters."""
        current = self._collections.get(coll.name) or self._reload_collection(coll.name)
        if current is None or current.id != coll.id or not self._locks.alive(coll.id):
            raise NotFound(f"collection {coll.name!r} was deleted while the build ran", "collection")
        self._build(current, video_id, validate.stored_hierarchy(current.config.get("hierarchy", {})))

    def build_video(self, collection: str, video_id: str, config: HierarchyConfig | None = None) -> dict[Level, int]:
        """(Re)build a video's tree and index every level; returns node counts per level.

        The old parents are replaced in one transaction, so the store never holds half
        of an old tree and half of a new one.
        """
        coll = self._collection(collection)
        validate.identifier(video_id, "video_id")
        return self._build(coll, video_id, config or self.hierarchy_config(collection))[1]

    def _build(
        self,
        coll: Collection,
        video_id: str,
        config: HierarchyConfig,
        seal: bool = False,
        hints: dict[Level, list[int]] | None = None,
    ) -> tuple[treerows.BuiltTree, dict[Level, int]]:
        """Build a video's tree from its stored segments and its hints (``hints`` when
        given, else its stored ones), and commit it in one transaction; returns the tree
        and its node count per level. With ``seal`` the same transaction stores the hints
        and seals it, so a crash leaves the video as it was or sealed with its new tree.

        The tree is built outside the collection's write lock, so the builds of several
        videos (and the collection's other writes) run side by side; it is committed
        under the lock only if the video did not change meanwhile, else built again. A
        video that keeps changing is built under the lock at the last attempt.
        """
        for _ in range(OPTIMISTIC_BUILDS):
            with self.graphs.watch(coll.id, video_id) as watch, self.indexes.building(coll.id):
                built = treerows.build_tree(self.store.cursor(), coll, video_id, config, hints)
                with self._locks.writing(coll):
                    if not watch.changed:
                        return built, self._commit_tree(coll, built, seal)
        with self._locks.writing(coll), self.indexes.building(coll.id):  # nothing slips in before the commit
            built = treerows.build_tree(self.store.cursor(), coll, video_id, config, hints)
            return built, self._commit_tree(coll, built, seal)

    def _commit_tree(self, coll: Collection, built: treerows.BuiltTree, seal: bool) -> dict[Level, int]:
        """Replace a video's parents by a built tree, in the store then the indexes. Holds
        the write lock."""
        video_id, tree, seg_keys = built.video_id, built.tree, built.segment_keys
        cur = self.store.cursor()
        old = nodes.video_keys(cur, coll.id, video_id)
        first_key = self.keys.take(treerows.node_count(tree))
        batches = []
        for level in treerows.PARENT_LEVELS:
            batches.append(treerows.level_batch(video_id, tree, level, first_key, built.attributes))
            first_key += len(batches[-1].keys)
        seq = self.sequence.take()
        with self.store.transaction() as tx:
            nodes.delete_parents(tx, coll.id, video_id)
            for batch in batches:
                nodes.insert(tx, batch.to_arrow(coll.id, seq))
            nodes.set_parents(tx, seg_keys, treerows.parent_ids(video_id, tree, Level.SEGMENT, len(seg_keys)))
            if seal:
                catalog.set_video_hints(tx, coll.id, video_id, built.hints)
                catalog.set_video_state(tx, coll.id, video_id, VideoState.SEALED)
        self.commits.stored(seq)
        self.commits.indexing(coll.id, seq)
        for batch in batches:
            index = self._index(coll, batch.level)
            index.remove(old.get(batch.level, np.zeros(0, np.int64)), replaced=True)
            index.add(batch.keys, batch.vectors, seq)
        self.commits.rewritten(coll.id, [batch.level for batch in batches])  # old parents deleted
        self.commits.committed(coll.id, seq, tuple(batch.level for batch in batches))
        self.searcher.written(coll)
        self.graphs.invalidate(coll.id, video_id)
        # Its segments have new parents and its old parents are gone; other videos' nodes stay.
        self.node_cache.forget(nodes.every_key(old))  # its segments' keys are among them
        return {batch.level: len(batch.keys) for batch in batches}

    # -- search ------------------------------------------------------------------------

    def search(self, query: SearchQuery, page_token: str = "") -> SearchResult:
        """Search a collection at one level, routed (AUTO) or over every level (ALL);
        ``page_token`` continues an earlier search with the same request."""
        validate.query_text(query.text, self.options.max_query_chars)
        return self.searcher.search(query, page_token)

    def parse_query(self, text: str) -> ParsedQuery:
        """How a routed search reads ``text`` (``router.parts``: what part vectors embed)."""
        if not validate.query_text(text, self.options.max_query_chars).strip():
            raise validate.InvalidArgument("text", "give a query text to parse")
        return parse(text)

    # -- stats, persistence --------------------------------------------------------------

    def stats(self, collection: str = "") -> list[CollectionStats]:
        """Counts per collection and level, with index coverage."""

        def of(coll: Collection) -> CollectionStats:
            levels = self.indexes.level_stats(self.store.cursor(), coll.id)
            now = self.get_collection(coll.name)
            if now.id != coll.id:  # deleted since it was listed, and made again
                raise NotFound(f"collection {coll.name!r} was deleted", "collection")
            return CollectionStats(coll.name, now.video_count, levels)

        return self._each(collection, of)

    def commit_sequence(self) -> int:
        """The highest committed sequence."""
        return self.commits.last_stored()

    def disk_bytes(self) -> int:
        """Bytes used by the data directory."""
        return files.tree_bytes(self.data_dir)

    def save_indexes(self, changed_only: bool = False, no_room_ok: bool = False) -> int:
        """Persist every index (or only those changed since their last save) atomically, with
        checksums; returns how many were written (none once the store failed: they could cover
        commits it lost). Writers wait while it is forked; searches go on (see LevelIndexes.save)."""
        return self.indexes.save(changed_only, no_room_ok) if self.store.failure() is None else 0

    def close(self) -> bool:
        """Save indexes, checkpoint and close the store, release the directory; whether both
        were done (else the next start catches up). Neither after a recovery that failed (a
        store it could not read): an index a failed read left empty must not replace its
        saved file, nor a checkpoint write into a file that could not be read."""
        if self._closed:
            return False
        self._closed = True
        self.operations.wait()  # a running build stops after its current video
        self.searcher.close()  # no read ahead under the closing store
        self.node_cache.close()  # a read of the store under way ends first
        # The store closes before the directory is released even if the save fails (see recover).
        saved = False
        with ExitStack() as done:
            done.callback(self._lock_file.close)
            done.callback(self.indexes.stop_linking)  # after the save: the files cover what was linked
            try:
                if not self._unread:
                    self.save_indexes()  # (none once the store failed either)
                saved = self.store.failure() is None and not self._unread
            except (OSError, RuntimeError) as exc:  # a full disk: the saved files stay; a start catches up
                log.error("closing without saving the indexes (%s); the next start catches them up from the store", exc)
            finally:
                saved = self.store.close(checkpoint=not self._unread) and saved
        return saved

    # -- operations: verify, snapshot, lag -------------------------------------------------

    def verify(self, collection: str = "", sample: int = 256) -> VerifyReport:
        """Check that the store, the indexes and the trees agree (see :mod:`hierarchy.verify`);
        ``sample`` vectors per level are compared. Read-only."""

        def check(coll: Collection) -> None:
            # Writers of the collection wait, so its store rows and indexes are seen at one moment.
            with self._locks.writing(coll):
                report.add(check_collection(self.store.cursor(), coll, self.indexes.of_collection(coll.id), sample))

        report = VerifyReport()
        self._each(collection, check)
        return report

    def _each(self, collection: str, work: Callable[[Collection], T]) -> list[T]:
        """``work`` for the named collection, or for every collection but those deleted
        while it ran (a report of all must not fail because another client deleted one)."""
        if collection:
            return [work(self._collection(collection))]
        out = []
        for coll in catalog.all_collections(self.store.cursor()):
            try:
                out.append(work(coll))
            except NotFound:
                if (now := self._reload_collection(coll.name)) is not None and now.id == coll.id:
                    raise
        return out

    def snapshot(self, destination: str) -> snapshots.Snapshot:
        """Copy the data directory to ``destination`` consistently (see :mod:`hierarchy.snapshot`).

        Every writer pauses while the store is checkpointed and the files are copied;
        searches go on. The checksums are computed once writers have resumed."""
        target = snapshots.check_destination(destination, self.data_dir)
        try:
            with self._locks.every(self._catalog_lock, lambda: catalog.all_collections(self.store.cursor())):
                self.store.checkpoint_if_room()  # else its log is copied with it
                self.save_indexes(no_room_ok=True)  # else the files last saved are, and a start catches up
                with self.indexes.saves_paused():  # a graph and its sidecar copied as one pair
                    files = snapshots.copy_files(self.data_dir, target)
                sequence = self.commits.last_stored()
            return snapshots.write_manifest(target, files, sequence, self.store.schema_version())
        except OSError as exc:
            snapshots.discard(target)
            raise snapshots.refused(exc, target, self.data_dir) from exc
        except BaseException:
            snapshots.discard(target)
            raise

    def index_lag(self) -> dict[tuple[str, Level], int]:
        """Per (collection, level): the store's highest sequence minus the index's watermark."""
        return self.indexes.lag(self.store.cursor())

    # -- internals -----------------------------------------------------------------------

    def _collection(self, name: str, field: str = "collection") -> Collection:
        validate.collection_name(name, field)
        found = self._collections.get(name) or self._reload_collection(name)
        if found is None:
            raise NotFound(f"collection {name!r} does not exist; check the name, or create it first", field)
        return found

    def _reload_collection(self, name: str) -> Collection | None:
        # Under the catalog lock: a read before a delete must not be cached after it.
        with self._catalog_lock:
            found = catalog.get_collection(self.store.cursor(), name)
            if found is not None:
                self._collections[name] = found
        return found

    def _index(self, coll: Collection, level: Level) -> LevelIndex:
        return self.indexes.get(coll, level)

    def recover(self) -> None:
        """Load, catch up or rebuild every index from the store (step 3 of recovery), then read
        what every level's first search would (``Searcher.warm``, ``hierarchy.noderows``).
        Runs once; later calls return at once. Nothing else may use the database until it returns.
        """
        if self._recovered:
            return
        self._unread = True
        with datadir.readable(self.store.path):  # a damaged file is found here, not at open
            every = catalog.all_collections(self.store.cursor())
            self.indexes.remove_orphans({coll.id for coll in every})
            for coll in every:
                self._collections[coll.name] = coll
                counts = nodes.level_counts(self.store.cursor(), coll.id)
                for level in (*counts, None):  # None: before the warm-up (a text encoder loads for seconds)
                    if self._abandon.is_set():  # stopping: what was not recovered is caught up next start
                        self._unread = False  # all read so far was read whole: a close saves it
                        raise Unavailable("the database is closing; its indexes were not all recovered")
                    if level is not None:
                        self.indexes.recover(self.store.cursor(), coll, level)
                self.searcher.warm(coll, list(counts))  # before serving: no first query pays for it
            if self._collections:
                self.node_cache.read_rows()  # 0.33 s at a million segments
        self._recovered, self._unread = True, False

    def abandon_recovery(self) -> None:
        """Make a recovery under way stop soon: a rebuild stops linking (its watermark stays,
        so the next start rebuilds it) and no further level is recovered."""
        self._abandon.set()
        self.indexes.stop_linking()
