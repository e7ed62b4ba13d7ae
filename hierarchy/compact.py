"""Offline compaction of the store: the file rewritten with only its live rows.

DuckDB reuses the blocks that deleted rows free, but never returns them to the file
system: under churn (videos deleted and written again, trees rebuilt) the store's file
settles at 2.0-2.3 times its live data, and a large delete leaves it at its peak for
good (``VACUUM`` and ``CHECKPOINT`` give nothing back). Only a copy does: the rows,
constraints and sequences are copied into a new file (``COPY FROM DATABASE``), which is
checked, flushed to disk and renamed over the old one, so a crash at any point leaves
the old store or the new one whole (and Ctrl-C while the copy is made removes it). The
indexes are files of their own, keyed by node keys a copy keeps: they stay as they are.

It runs with the data directory locked, as a server would hold it: stop the server
first. Fifty videos of 2,000 512-d segments sealed, forty of them deleted: the file went
from 198.2 to 42.7 MB in 0.5 s, and the database reopened on it verified clean.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hierarchy import process
from hierarchy.errors import FailedPrecondition, InvalidArgument, Unavailable
from hierarchy.files import fsync, fsync_dir
from hierarchy.snapshot import MANIFEST, STORE_FILES, check_not_restoring

STORE, LOG = STORE_FILES
PART = STORE + ".compacting"  # the copy while it is made; a leftover is removed first


@dataclass(frozen=True)
class Compacted:
    """What a compaction did: the store's bytes before (its log included) and after, and
    the rows of each table, the same in both."""

    before_bytes: int
    after_bytes: int
    rows: dict[str, int]


class CompactInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) came while the copy was made: the store is unchanged and the copy
    removed. A KeyboardInterrupt still, so code that does not look for it stops as on any
    Ctrl-C; its message says what was left as it was."""


def compact(data_dir: Path, memory_limit: str = "1GB") -> Compacted:
    """Rewrite the store of ``data_dir`` (offline) without the space deleted rows left,
    with DuckDB's memory capped at ``memory_limit`` (it spills to disk past it)."""
    if not (data_dir / STORE).is_file():
        raise FailedPrecondition(f"{data_dir} holds no store ({STORE}); name a server's data directory", "data_dir")
    if (data_dir / MANIFEST).is_file():  # its checksums would no longer match
        raise FailedPrecondition(
            f"{data_dir} is a snapshot ({MANIFEST}); restore it into a data directory and compact that", "data_dir"
        )
    if memory_limit.strip().startswith("-"):  # DuckDB reads a negative size as no cap at all
        raise InvalidArgument("memory_limit", f"is {memory_limit!r}; give a size such as '2GB'")
    with process.offline(data_dir, "compacting it"):
        check_not_restoring(data_dir)
        store, part = data_dir / STORE, data_dir / PART
        before = _bytes(store) + _bytes(data_dir / LOG)
        try:
            rows = _copy_checked(data_dir, store, part, memory_limit)
        except BaseException as exc:  # Ctrl-C too: the store stays as it was, and no copy is left
            _remove(part)
            if _interrupted(exc):
                raise CompactInterrupted(
                    f"the compaction of {data_dir} stopped before its copy replaced the store; {store} is unchanged "
                    "and the partial copy removed"
                ) from exc
            raise
        try:
            with _interrupts_held():  # the copy replaces the store whole, and the rename is flushed
                os.replace(part, store)
                fsync_dir(data_dir)
        except KeyboardInterrupt as exc:  # it came as the store was replaced: the compaction is done
            raise CompactInterrupted(f"the compaction of {data_dir} had finished: {store} is compacted") from exc
    return Compacted(before, _bytes(store), rows)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT held pending by the kernel inside the block (in the main thread, where Python
    takes it), delivered as the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C: Python's KeyboardInterrupt, or DuckDB's report of one
    that came while a query ran (DuckDB stops the query and raises a RuntimeError, "Query
    interrupted", in the KeyboardInterrupt's place)."""
    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException):
        return True
    # DuckDB 2.0's wording (a change would show in tests/tools/test_cli_cut_short.py).
    return isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower()


def _copy_checked(data_dir: Path, store: Path, part: Path, memory_limit: str) -> dict[str, int]:
    """Copy ``store`` into ``part`` (a leftover of an earlier run removed first), check that
    no log is left beside either file, and flush the copy; the rows of each table. The
    caller removes ``part`` when this fails."""
    _remove(part)
    rows = _copied(store, part, memory_limit)
    # A log left beside either file after its checkpoint would be replayed into the new one.
    for log in (data_dir / LOG, _log_of(part)):
        if log.exists():
            raise Unavailable(
                f"{log} is still there after a checkpoint; nothing was changed: start a server on {data_dir} "
                "once (it replays the log), stop it, and compact again"
            )
    fsync(part)
    return rows


def _copied(store: Path, part: Path, memory_limit: str) -> dict[str, int]:
    """Copy every table of ``store`` into a new file ``part``; the rows of each, checked
    to be the same in both. The old file is checkpointed (its log folded in) first. The
    caller removes ``part`` when this fails."""
    try:
        con = duckdb.connect(str(store), config={"memory_limit": memory_limit})
    except duckdb.ParserException as exc:  # a size DuckDB cannot read
        raise InvalidArgument("memory_limit", f"is {memory_limit!r}; give a size such as '2GB'") from exc
    except (duckdb.IOException, duckdb.OutOfMemoryException) as exc:  # too little memory to open it, even
        raise Unavailable(f"cannot open the store {store}: {_advice(exc, memory_limit)}; nothing was changed") from exc
    try:
        con.execute("CHECKPOINT")
        name = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        found = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [name]).fetchall()
        tables = [t for (t,) in found]
        con.execute(f"ATTACH '{_quoted(part)}' AS compacted")
        try:
            con.execute(f'COPY FROM DATABASE "{name}" TO compacted')
            rows = {t: _count(con, f'"{name}"."{t}"') for t in tables}
            copied = {t: _count(con, f'compacted."{t}"') for t in tables}
            con.execute("CHECKPOINT compacted")
        finally:
            con.execute("DETACH compacted")
    except duckdb.InterruptException:
        raise  # Ctrl-C: the caller says so
    except duckdb.Error as exc:
        raise Unavailable(f"cannot copy the store {store}: {_advice(exc, memory_limit)}; nothing was changed") from exc
    finally:
        con.close()
    if copied != rows:
        raise Unavailable(f"the copy of {store} holds {copied} rows, the store {rows}; nothing was changed")
    return rows


def _advice(exc: duckdb.Error, memory_limit: str) -> str:
    """What went wrong and its fix: DuckDB's first line (the rest suggests settings of its
    own, which the command does not take)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return f"{first}; raise --memory-limit (now {memory_limit})"
    if "space left" in first.lower():
        return f"{first}; the copy needs room for the live rows beside the store: free some, or compact elsewhere"
    return first


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _log_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(path: Path) -> None:
    for leftover in (path, _log_of(path)):
        leftover.unlink(missing_ok=True)
