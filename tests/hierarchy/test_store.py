"""The store's answers to a disk that fills: a write refused with what to do, nothing of
it kept, later writes taken once there is room, and a close that does not crash (nor
leave a part-written index behind)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import duckdb
import pytest

from hierarchy import graphsave
from hierarchy.db import Database
from hierarchy.errors import ResourceExhausted, Unavailable
from hierarchy.store import Store
from hierarchy.types import EmbeddingSpace
from tests.hierarchy.helpers import COLLECTION, DIM, fast_options, segments, unit_vectors

# What DuckDB raises when a commit's log write meets a full disk (its message, verbatim).
FULL = 'TransactionContext Error: Failed to commit: Could not write file "x.wal": No space left on device'


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "strata.duckdb")
    store.cursor().execute("CREATE TABLE t (x INTEGER)")
    return store


def test_a_write_that_meets_a_full_disk_is_refused_as_exhausted_and_leaves_nothing(store: Store) -> None:
    with pytest.raises(ResourceExhausted) as err, store.transaction() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
        raise duckdb.TransactionException(FULL)
    assert "is full" in err.value.message and "nothing was written: make room and retry" in err.value.message
    with store.transaction() as cur:  # room again: writes go on
        cur.execute("INSERT INTO t VALUES (2)")
    assert store.cursor().execute("SELECT x FROM t").fetchall() == [(2,)]
    store.close()


def test_another_io_failure_is_unavailable(store: Store) -> None:
    with pytest.raises(Unavailable, match="could not complete the write"), store.transaction():
        raise duckdb.IOException("IO Error: Could not read from file")
    store.close()


def test_a_close_whose_checkpoint_fails_logs_it_and_closes(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On a full disk the last checkpoint fails: 'strata serve' stopped with a traceback.
    def full() -> None:
        raise duckdb.FatalException("FATAL Error: Failed to create checkpoint: No space left on device")

    monkeypatch.setattr(store, "checkpoint", full)
    with caplog.at_level(logging.ERROR, logger="hierarchy.store"):
        store.close()
    assert "without a checkpoint" in caplog.text and "replays its log" in caplog.text
    with pytest.raises(Unavailable):
        store.cursor()


def test_a_database_whose_indexes_cannot_be_saved_still_closes_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On a full disk the graph's write fails part-way: the stop ended in a traceback, and
    # the part-written file kept the room the store needed.
    db = Database.open(tmp_path / "d", fast_options())
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    db.append_segments(COLLECTION, segments("v1", unit_vectors(20)))

    def fill_up(index: object, path: Path) -> None:
        path.write_bytes(b"part of a graph")
        raise RuntimeError("Failed to serialize into stream")

    monkeypatch.setattr(graphsave, "in_child", lambda index, path: None)  # written in process
    monkeypatch.setattr(graphsave, "in_process", fill_up)
    with caplog.at_level(logging.ERROR, logger="hierarchy.db"):
        db.close()
    assert "closing without saving the indexes" in caplog.text
    assert not list((tmp_path / "d").rglob("*.tmp"))
    monkeypatch.undo()
    reopened = Database.open(tmp_path / "d", fast_options())  # caught up from the store
    try:
        assert reopened.get_video(COLLECTION, "v1").segment_count == 20 and reopened.verify().ok
    finally:
        reopened.close()


def test_a_damaged_store_file_is_refused_with_the_way_out(tmp_path: Path) -> None:
    # It suggested another Strata server, which the data directory's lock rules out.
    (tmp_path / "strata.duckdb").write_bytes(b"not a database" * 1000)
    with pytest.raises(Unavailable) as err:
        Store(tmp_path / "strata.duckdb")
    assert "restore a snapshot (strata restore)" in err.value.message and "Strata server" not in err.value.message


def _a_read_behind_an_update(store: Store) -> duckdb.DuckDBPyConnection:
    """A read transaction left open across a committed update: DuckDB then refuses a
    checkpoint until the read ends, though no write is running."""
    store.cursor().execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER)")
    store.cursor().execute("INSERT INTO kv VALUES (1, 1)")
    reader = store.new_cursor()
    reader.execute("BEGIN TRANSACTION")
    reader.execute("SELECT * FROM kv").fetchall()
    store.cursor().execute("INSERT OR REPLACE INTO kv VALUES (1, 2)")  # committed
    return reader


def test_a_checkpoint_waits_out_the_reads_that_hold_it_back(store: Store) -> None:
    reader = _a_read_behind_an_update(store)
    ended = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
    ended.start()
    store.checkpoint()  # refused by DuckDB until the read ends; then done
    ended.join()
    assert store.cursor().execute("SELECT v FROM kv").fetchall() == [(2,)]
    store.close()


def test_a_checkpoint_held_back_too_long_is_unavailable_not_an_internal_error(store: Store) -> None:
    reader = _a_read_behind_an_update(store)
    with pytest.raises(Unavailable) as err:
        store.checkpoint(patience_s=0.2)
    assert "could not checkpoint" in err.value.message and "retry" in err.value.message
    reader.execute("COMMIT")
    store.checkpoint()
    store.close()
