"""The DuckDB store: the source of truth for collections, videos, nodes and vectors.

One process owns the database file. Each thread uses its own cursor. Writes that must
be atomic run inside :meth:`Store.transaction`. The schema carries a version and is
migrated forward on open; migrations are plain SQL, applied in order, once.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from hierarchy.errors import InvalidArgument, ResourceExhausted, Unavailable
from hierarchy.types import MAX_KEY

log = logging.getLogger(__name__)

DISK_FULL = "No space left on device"  # how DuckDB's messages quote ENOSPC
CHECKPOINT_SPARE = 64 << 20  # bytes a checkpoint leaves free beside twice the log (Store.checkpoint_if_room)
CHECKPOINT_PATIENCE_S = 10.0  # how long a checkpoint waits out the reads that hold it back

SCHEMA_VERSION = 1

# Each entry moves the schema from version i to i + 1. Never edit a shipped entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name VARCHAR NOT NULL UNIQUE,
        dimension INTEGER NOT NULL,
        metric VARCHAR NOT NULL,
        model_name VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        text_encoder VARCHAR NOT NULL,
        config JSON NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE videos (
        collection_id INTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        duration_ms BIGINT NOT NULL,
        attributes JSON NOT NULL,
        state VARCHAR NOT NULL,
        hints JSON NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (collection_id, video_id)
    );
    CREATE TABLE nodes (
        key BIGINT PRIMARY KEY,
        collection_id INTEGER NOT NULL,
        node_id VARCHAR NOT NULL,
        level TINYINT NOT NULL,
        video_id VARCHAR NOT NULL,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        parent_id VARCHAR NOT NULL,
        text VARCHAR NOT NULL,
        labels VARCHAR[] NOT NULL,
        attributes JSON NOT NULL,
        child_count INTEGER NOT NULL,
        label_counts JSON NOT NULL,
        shot_cut BOOLEAN NOT NULL,
        vector FLOAT[] NOT NULL,
        seq BIGINT NOT NULL,
        UNIQUE (collection_id, node_id)
    );
    CREATE TABLE requests (
        collection_id INTEGER NOT NULL,
        request_id VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        response JSON NOT NULL,
        PRIMARY KEY (collection_id, request_id)
    );
    """,
]


class Store:
    """A DuckDB database file with per-thread cursors and versioned schema."""

    def __init__(
        self, path: Path, memory_limit: str = "2GB", threads: int = 2, checkpoint_threshold: str = "1GB"
    ) -> None:
        self.path = path
        config = {"memory_limit": memory_limit, "threads": threads, "checkpoint_threshold": checkpoint_threshold}
        try:
            self._con = duckdb.connect(str(path), config=config)
        except duckdb.ParserException as exc:  # a size DuckDB cannot read: name the setting
            field = next((k for k in ("memory_limit", "checkpoint_threshold") if not readable(k, config[k])), "")
            said = str(exc).splitlines()[0]
            raise InvalidArgument(field or "options", said if "e.g." in said else f"{said} (e.g. '2GB')") from exc
        except duckdb.IOException as exc:
            # The data directory's lock is held already: a lock on the file is another
            # program's (the duckdb shell), else the file itself is at fault.
            fix = (
                "another program has the file open; close it"
                if "lock" in str(exc).lower()
                else "if it is damaged, restore a snapshot (strata restore) or move the data directory aside"
            )
            raise Unavailable(f"cannot open the store {path}: {exc}; {fix}") from exc
        # Held by a delete's whole transaction: every delete writes the one meta row of the
        # highest commit, and two at once (in two collections: each holds only its own
        # lock) made DuckDB refuse one ("Conflict on update", or a duplicate key).
        self.deleting = threading.Lock()
        self._local = threading.local()
        # Every thread's cursor, by thread, also held here: see _hold. And the one cursor
        # ``failure`` probes with.
        self._held: dict[int, duckdb.DuckDBPyConnection] = {}
        self._held_lock = threading.Lock()
        self._probe: duckdb.DuckDBPyConnection | None = None
        self._closed = False
        try:
            self._migrate()
        except BaseException:  # a damaged block, a newer schema: the file is not left open
            self._con.close()
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared across threads)."""
        self._check_open()
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
            self._hold(cur)
        return cur

    def _hold(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Keep this thread's cursor referenced from the store while the thread lives.

        A fork (an index save's child, ``hierarchy.graphsave``) clears the other threads'
        states in the child, their thread-locals with them; a cursor whose last reference
        went there ran DuckDB's connection destructor in the child, which waits on a lock
        a thread held at the fork: the child never ended, the index was not saved for the
        300 s the saver waits, and a stop waited as long (two of two loads with a save
        every 0.2 s). Held here as well, no cursor is freed in a child. Cursors of threads
        that have ended are let go (in this process) as the next one is made."""
        with self._held_lock:
            alive = {thread.ident for thread in threading.enumerate()}
            for ident in [ident for ident in self._held if ident not in alive]:
                del self._held[ident]
            self._held[threading.get_ident()] = cur

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block atomically: commit on success, roll back on any error."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):  # after a failed COMMIT there may be nothing to undo
                cur.execute("ROLLBACK")
            reason = str(exc).splitlines()[0] if isinstance(exc, duckdb.Error) else ""
            if DISK_FULL in reason:
                # A commit whose log write met a full disk: the store still reads, and takes
                # writes again once there is room. It is the operator's to fix, not a bug.
                raise ResourceExhausted(
                    f"the disk of {self.path.parent} is full ({reason}); nothing was written: make room and retry"
                ) from exc
            if isinstance(exc, duckdb.IOException | duckdb.OutOfMemoryException):
                # A memory limit or another I/O failure is the operator's to fix too: say so.
                raise Unavailable(f"the store could not complete the write ({reason}); nothing was written") from exc
            raise

    def schema_version(self) -> int:
        """The schema version the file is at."""
        row = self.cursor().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        return int(row[0][0]) if row else 0

    def _migrate(self) -> None:
        cur = self.cursor()
        has_meta = cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'").fetchall()
        version = self.schema_version() if has_meta[0][0] else 0
        if version > SCHEMA_VERSION:
            raise Unavailable(
                f"the store {self.path} has schema version {version}, newer than this "
                f"server's {SCHEMA_VERSION}; upgrade Strata"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction() as tx:
                tx.execute(MIGRATIONS[target - 1])
                tx.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target)])
            log.info("store %s migrated to schema version %d", self.path, target)

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        row = self.cursor().execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str, cur: duckdb.DuckDBPyConnection | None = None) -> None:
        """Set a value of the ``meta`` table (inside ``cur``'s transaction if given)."""
        (cur or self.cursor()).execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def new_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own, whose transactions are independent of this thread's."""
        self._check_open()
        return self._con.cursor()

    def _check_open(self) -> None:
        # A closed DuckDB connection answers with its own "Connection already closed!":
        # a caller of a closed database is told what happened and what to do instead.
        if self._closed:
            raise Unavailable(f"the database at {self.path.parent} is closed; open it again to use it")

    def checkpoint(self, patience_s: float = CHECKPOINT_PATIENCE_S) -> None:
        """Fold the write-ahead log into the database file.

        DuckDB refuses a checkpoint ("other write transactions active") while a read that
        began before the last update is still running, even after that update committed
        and with every writer held back: the update's lock lives until those reads end. So
        it is asked again for up to ``patience_s``; then the caller is told to retry
        (UNAVAILABLE), rather than answered INTERNAL."""
        deadline, pause = time.monotonic() + patience_s, 0.01
        while True:
            try:
                self.cursor().execute("CHECKPOINT")
                return
            except duckdb.TransactionException as exc:
                if "CHECKPOINT" not in str(exc) or time.monotonic() + pause > deadline:
                    reason = str(exc).splitlines()[0]
                    raise Unavailable(f"the store could not checkpoint ({reason}); retry shortly") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def checkpoint_if_room(self) -> bool:
        """:meth:`checkpoint` when the disk has room for it (twice the log, and 64 MiB to
        spare); whether it ran. A checkpoint that meets a full disk is a fatal error to
        DuckDB: every later statement fails, reads too, until the process restarts (a
        snapshot taken on a full data disk stopped the server). Without one the log keeps
        every committed write: a copy holds it, and an open replays it."""
        wal = self.path.with_name(self.path.name + ".wal")
        try:
            logged = wal.stat().st_size if wal.exists() else 0
            room = shutil.disk_usage(self.path.parent).free >= 2 * logged + CHECKPOINT_SPARE
        except FileNotFoundError:  # the log was folded in meanwhile: no log, room enough
            room = True
        except OSError:  # room unknown: no checkpoint (one that meets a full disk is fatal)
            room = False
        if not room:
            log.warning("no checkpoint of %s: its disk has no room for one (its log keeps every write)", self.path)
            return False
        self.checkpoint()
        return True

    def failure(self) -> str | None:
        """Why the store can no longer serve, or None while it can.

        DuckDB invalidates a database after a fatal error (a checkpoint or log write that
        fails half way, e.g. on a full disk): every later statement fails until the
        process restarts, and the restart recovers from the files.
        """
        try:
            with self._held_lock:  # one cursor, kept (see _hold), used by one caller at a time
                self._check_open()
                self._probe = self._probe or self._con.cursor()
                self._probe.execute("SELECT 1").fetchall()
        except duckdb.FatalException as exc:
            return str(exc).splitlines()[0]
        except duckdb.ConnectionException as exc:  # closed, or lost with the fatal error
            return str(exc).splitlines()[0]
        except Unavailable as exc:  # closed by this process
            return str(exc)
        return None

    def close(self, checkpoint: bool = True) -> bool:
        """Checkpoint (unless told not to) and close the file; whether it was checkpointed.
        No checkpoint after a failure: the next open replays the log, and DuckDB refuses
        every statement meanwhile. A checkpoint that fails (a full disk) is logged: the log
        keeps every committed write for the next open."""
        checkpointed = False
        try:
            if checkpoint and self.failure() is None:
                checkpointed = self.checkpoint_if_room()
        except (duckdb.Error, Unavailable) as exc:
            log.error("closing %s without a checkpoint (%s); the next open replays its log", self.path, exc)
        finally:
            self._closed = True
            self._con.close()
            with self._held_lock:
                self._held.clear()
                self._probe = None
        return checkpointed


class Allocator:
    """Hands out increasing integers (node keys, commit sequences) without reuse.

    Blocks are reserved in the ``meta`` table before use, so a value handed out is never
    handed out again, even after a crash: a restart resumes after the last reserved block.
    """

    def __init__(self, store: Store, name: str, block: int = 65536) -> None:
        self._store = store
        self._name = name
        self._block = block
        self._lock = threading.Lock()
        # Reservations commit on their own cursor: a caller's rollback must not undo them.
        self._cursor = store.new_cursor()
        start = int(store.get_meta(name) or "1")
        self._next = start
        self._limit = start

    def take(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive values; returns the first."""
        with self._lock:
            if self._next + count > MAX_KEY:
                # USearch reserves 2**64-1 and signed readers break past 2**63: never go there.
                raise Unavailable(f"the {self._name} counter is exhausted; rebuild into a new data directory")
            if self._next + count > self._limit:
                self._limit = self._next + count + self._block
                self._store.set_meta(self._name, str(self._limit), self._cursor)
            first = self._next
            self._next += count
            return first


def readable(name: str, value: object) -> bool:
    """Whether DuckDB accepts ``value`` for the setting ``name``."""
    try:
        duckdb.connect(":memory:", config={name: value}).close()
    except duckdb.Error:
        return False
    return True
