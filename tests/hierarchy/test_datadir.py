"""What a data directory must hold to be opened: a snapshot is not served in place, a
store file gone missing is not replaced by an empty one, a damaged store says what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hierarchy import nodes, snapshot
from hierarchy.db import Database
from hierarchy.errors import FailedPrecondition, Unavailable
from tests.hierarchy.helpers import (
    COLLECTION,
    ROOT,
    OpenDb,
    fast_options,
    segment_count,
    segments,
    unit_vectors,
    unprivileged,
)


def _filled(db: Database, count: int = 40) -> None:
    db.append_segments(COLLECTION, segments("v1", unit_vectors(count, seed=3)))
    db.seal_video(COLLECTION, "v1")


def test_a_snapshot_is_not_opened_in_place_and_stays_restorable(games: Database, tmp_path: Path) -> None:
    # Serving it would save its indexes and checkpoint its store: its checksums would fail.
    _filled(games)
    taken = tmp_path / "snap"
    games.snapshot(str(taken))
    games.close()
    with pytest.raises(FailedPrecondition, match="is a snapshot") as refused:
        Database.open(taken, fast_options())
    assert refused.value.field == "data_dir" and "strata restore" in refused.value.message
    assert not (taken / "LOCK").exists()  # refused before anything was written to it
    snapshot.restore(taken, tmp_path / "restored")  # checksums still hold
    restored = Database.open(tmp_path / "restored", fast_options())
    try:
        assert segment_count(restored) == 40
    finally:
        restored.close()


@pytest.mark.parametrize("left", ["indexes", "wal"])
def test_a_missing_store_file_is_refused_not_replaced_by_an_empty_one(
    games: Database, open_db: OpenDb, data_dir: Path, left: str
) -> None:
    # Opened, an empty store would be made, every collection's index directory removed
    # as deleted, and a write-ahead log's writes dropped.
    _filled(games)
    games.close()
    store = data_dir / "strata.duckdb"
    aside = data_dir.parent / "aside.duckdb"
    store.rename(aside)
    if left == "wal":
        shutil.rmtree(data_dir / "indexes")
        (data_dir / "strata.duckdb.wal").write_bytes(b"\0" * 16)
    before = sorted(p.name for p in data_dir.rglob("*"))
    with pytest.raises(FailedPrecondition, match="its store is missing") as refused:
        Database.open(data_dir, fast_options())
    assert refused.value.field == "data_dir"
    assert sorted(p.name for p in data_dir.rglob("*")) == before  # nothing made or removed
    if left == "wal":
        (data_dir / "strata.duckdb.wal").unlink()
    aside.rename(store)
    assert segment_count(open_db()) == 40  # put back, it opens as it was


def test_a_new_data_directory_still_opens_empty(open_db: OpenDb, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    (fresh / "indexes").mkdir(parents=True)  # an empty index directory holds nothing to lose
    assert open_db(fresh).list_collections()[0] == []


@pytest.mark.parametrize("given", ["file", "file/data"], ids=["the-file", "below-a-file"])
def test_a_file_in_the_way_of_the_data_directory_is_named(tmp_path: Path, given: str) -> None:
    """mkdir said only "File exists" (or "Not a directory"): the file was left to be found."""
    (tmp_path / "file").write_text("")
    with pytest.raises(FailedPrecondition) as info:
        Database.open(tmp_path / given)
    assert f"{tmp_path / 'file'} is a file, not a directory; choose another --data-dir" in info.value.message


def test_a_store_cut_short_is_unavailable_with_what_to_do(games: Database, data_dir: Path) -> None:
    _filled(games, 400)
    games.close()
    store = data_dir / "strata.duckdb"
    store.write_bytes(store.read_bytes()[: store.stat().st_size // 2])
    for _ in range(2):  # the failed open leaves nothing locked or open
        with pytest.raises(Unavailable, match="restore a snapshot"):
            Database.open(data_dir, fast_options())


@pytest.mark.parametrize("start", [20_000, 400_000])  # (in DuckDB 1.x: read at open; read by recovery)
def test_a_damaged_store_is_unavailable_with_what_to_do(games: Database, data_dir: Path, start: int) -> None:
    _filled(games, 400)
    games.close()
    store = data_dir / "strata.duckdb"
    data = bytearray(store.read_bytes())
    for at in range(start, min(len(data), start + 200_000), 997):  # blocks whose checksums then fail when read
        data[at] ^= 0x5A
    store.write_bytes(bytes(data))
    files = {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file() and path.name != "LOCK"}
    for _ in range(2):  # the failed open leaves nothing locked or open
        with pytest.raises(Unavailable, match="restore a snapshot") as refused:
            Database.open(data_dir, fast_options())
        assert "cannot read the store" in refused.value.message
    # Nothing written: no index a failed read left empty saved over its file, no checkpoint.
    assert {path: path.read_bytes() for path in files} == files


def test_a_recovery_that_cannot_read_the_store_writes_nothing(
    games: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read that fails halfway through an index's recovery (an I/O error, a block failing
    # its checksum: raised here as DuckDB raises it) left that index empty, and the close
    # that followed saved it over the good file (count 0), and checkpointed the store.
    _filled(games, 400)
    games.close()
    files = {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file() and path.name != "LOCK"}

    def unreadable(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException("Could not read enough bytes from file: the disk failed")

    monkeypatch.setattr(nodes, "keys_until", unreadable)
    with pytest.raises(Unavailable, match="cannot read the store"):
        Database.open(data_dir, fast_options())
    assert {path: path.read_bytes() for path in files} == files


def test_a_close_that_saved_everything_says_so(games: Database) -> None:
    _filled(games)
    assert games.close() is True


DISCARD = """
import logging, sys
from pathlib import Path
from hierarchy import snapshot
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
snapshot.discard(Path(sys.argv[1]))
"""


def test_a_partial_snapshot_that_cannot_be_removed_is_logged_not_raised(tmp_path: Path) -> None:
    # A failed snapshot's cleanup that failed too raised its own OSError, which replaced the
    # failure the operator had to see. Run as an ordinary user: a directory it may not write.
    as_user = unprivileged()
    partial = tmp_path / "snap"
    partial.mkdir()
    (partial / "strata.duckdb").write_bytes(b"half a copy")
    partial.chmod(0o555)
    try:
        ran = subprocess.run([*as_user, sys.executable, "-c", DISCARD, str(partial)], capture_output=True,
                             text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    finally:
        partial.chmod(0o755)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.startswith(f"WARNING cannot remove the partial snapshot in {partial}: [Errno 13]"), ran.stderr
    assert (partial / "strata.duckdb").exists()
