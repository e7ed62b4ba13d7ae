"""Opening a data directory: what must hold before its store is trusted, the store and
its counters, and what an operator is told when the store cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NamedTuple

import duckdb

from hierarchy import indexdir, nodes, process, scan
from hierarchy.commits import Commits
from hierarchy.errors import FailedPrecondition, Unavailable
from hierarchy.options import DatabaseOptions
from hierarchy.snapshot import MANIFEST, STORE_FILES, check_not_restoring
from hierarchy.store import DISK_FULL, Allocator, Store

STORE, WAL = STORE_FILES
INDEXES = "indexes"


class Opened(NamedTuple):
    """A data directory opened: its lock, its store and the store's counters."""

    lock_file: IO[str]
    store: Store
    keys: Allocator
    sequence: Allocator
    commits: Commits


def open_directory(data_dir: Path, options: DatabaseOptions) -> Opened:
    """Lock ``data_dir``, check it may be opened, open its store and read its counters,
    then move aside what is in the way of its index tree (see :mod:`hierarchy.indexdir`);
    on any failure nothing stays open or locked."""
    check_not_snapshot(data_dir)  # before the lock, whose file would be added to it
    lock_file = process.lock_directory(data_dir)
    try:
        check_openable(data_dir)
        # Refused before the store is opened (and maybe written); moved once it is read.
        in_the_way = indexdir.survey(data_dir, data_dir / INDEXES)
        process.limit_blas_threads(options.blas_threads)
        scan.BUDGET.limit = options.scan_memory_mb << 20
        with readable(data_dir / STORE):  # DuckDB checks a block's checksum as it reads it: at open too
            store = Store(data_dir / STORE, options.memory_limit, options.threads, options.checkpoint_threshold)
        try:
            with readable(store.path):
                keys, sequence = Allocator(store, "next_key"), Allocator(store, "next_seq", block=1024)
                commits = Commits(nodes.max_sequence(store.cursor()))
            indexdir.set_aside(data_dir, in_the_way)
            return Opened(lock_file, store, keys, sequence, commits)
        except BaseException:
            store.close(checkpoint=False)  # a file that cannot be read is not written to
            raise
    except BaseException:
        lock_file.close()  # a store that cannot open must not keep the directory locked
        raise


def check_not_snapshot(data_dir: Path) -> None:
    """Refuse a snapshot (serving it rewrites its files and its checksums fail); checked
    before anything is written to the directory (a mounted backup may be read-only)."""
    if (data_dir / MANIFEST).is_file():
        raise FailedPrecondition(
            f"{data_dir} is a snapshot ({MANIFEST}); serving it would change its files and fail its checksums: "
            f"restore it with `strata restore {data_dir} --data-dir DIR` and serve DIR",
            "data_dir",
        )


def check_openable(data_dir: Path) -> None:
    """Refuse, under the directory's lock, a directory that must not be served as it is:
    a restore cut off, or one whose store file is gone while what it wrote is there (a new
    empty store would be made, every collection's index removed as deleted, and the
    write-ahead log's writes dropped)."""
    check_not_restoring(data_dir)
    if (data_dir / STORE).exists():
        return
    indexes = data_dir / INDEXES
    left = [name for name, there in ((WAL, (data_dir / WAL).exists()), (f"{INDEXES}/", _holds(indexes))) if there]
    if left:
        raise FailedPrecondition(
            f"{data_dir} holds {' and '.join(left)} but not {STORE}: its store is missing. Put {STORE} back, "
            f"restore a snapshot (`strata restore SNAPSHOT --data-dir {data_dir} --force`), or move the "
            "directory aside to start an empty one",
            "data_dir",
        )


def _holds(directory: Path) -> bool:
    """Whether ``directory`` exists and is not an empty directory."""
    return directory.is_dir() and any(directory.iterdir()) or directory.exists() and not directory.is_dir()


@contextmanager
def readable(path: Path) -> Iterator[None]:
    """Reads of the store at ``path``: a file DuckDB cannot read (cut short: "Could not
    read enough bytes", an I/O error; damaged: "Corrupt database file", a bare
    ``duckdb.Error``) is UNAVAILABLE with what to do, instead of DuckDB's error alone.
    Other errors pass as they are: they say nothing of the file."""
    try:
        yield
    except duckdb.Error as exc:
        damaged = isinstance(exc, duckdb.IOException) or "corrupt" in str(exc).lower()
        if not damaged or DISK_FULL in str(exc):  # a full disk (a spill) is no damage to the file
            raise
        raise Unavailable(
            f"cannot read the store {path}: {exc}; if it is damaged, restore a snapshot (strata restore) or "
            "move the data directory aside"
        ) from exc
