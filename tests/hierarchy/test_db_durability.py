"""The database facade: restarts, the directory lock, index recovery and crashes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hierarchy import nodes, process
from hierarchy.db import Database
from hierarchy.errors import (
    FailedPrecondition,
    Unavailable,
)
from hierarchy.index import LevelIndex
from hierarchy.indexes import LevelIndexes
from hierarchy.indexparams import IndexParams
from hierarchy.types import (
    EmbeddingSpace,
    Level,
    Metric,
    SearchQuery,
)
from tests.hierarchy.helpers import (
    COLLECTION,
    DIM,
    SEGMENT_MS,
    OpenDb,
    assert_each_segment_finds_itself,
    fast_options,
    indexed_count,
    query,
    segment_count,
    segments,
    unit_vectors,
)

ROOT = Path(__file__).resolve().parents[2]


# -- restart and the directory lock -------------------------------------------------------


def test_reopen_gives_the_same_search_results(games: Database, open_db: OpenDb) -> None:
    vectors = unit_vectors(30, seed=5)
    games.append_segments(COLLECTION, segments("v1", vectors[:20]))
    games.append_segments(COLLECTION, segments("v2", vectors[20:]))
    probes = unit_vectors(5, seed=6)

    def answers(db: Database) -> tuple[list[str], list[float]]:
        hits = [h for p in probes for h in db.search(query(p, top_k=10)).hits]
        return [h.node.id for h in hits], [h.score for h in hits]

    ids_before, scores_before = answers(games)
    games.close()
    reopened = open_db()
    ids_after, scores_after = answers(reopened)
    assert ids_after == ids_before
    assert scores_after == pytest.approx(scores_before, abs=1e-6)
    assert segment_count(reopened) == indexed_count(reopened) == 30


def test_a_reopened_database_reads_its_search_caches_before_the_first_search(games: Database, open_db: OpenDb) -> None:
    # Checked on the caches, not with a clock: at 1 M segments the spans and statistics
    # the first search read made it 624 ms against 5 ms for the next.
    games.append_segments(COLLECTION, segments("v1", unit_vectors(40, seed=3)))
    games.seal_video(COLLECTION, "v1")
    games.close()
    reopened = open_db()
    cid = reopened.get_collection(COLLECTION).id
    built = set(nodes.level_counts(reopened.store.cursor(), cid))
    assert len(built) == len(Level)  # a sealed video has every level
    searcher = reopened.searcher
    spans_before = dict(searcher._span_cache._spans)
    moments_before = {key: list(found) for key, found in searcher._level_moments._moments.items()}
    assert {level for _, level in spans_before} == {int(level) for level in built}
    assert {level for _, level in moments_before} == {int(level) for level in built}
    reopened.search(SearchQuery(COLLECTION, vector=unit_vectors(1, seed=4)[0]))  # AUTO: every level
    assert searcher._span_cache._spans == spans_before  # nothing read again
    assert {key: list(found) for key, found in searcher._level_moments._moments.items()} == moments_before


def test_appends_continue_after_reopen(games: Database, open_db: OpenDb) -> None:
    old, new = unit_vectors(10, seed=1), unit_vectors(10, seed=2)
    first = games.append_segments(COLLECTION, segments("v1", old))
    games.close()
    reopened = open_db()
    second = reopened.append_segments(COLLECTION, segments("v2", new))
    assert second.commit_sequence > first.commit_sequence
    assert_each_segment_finds_itself(reopened, first.segment_ids + second.segment_ids, np.vstack([old, new]))


def test_commit_sequence_survives_reopen(games: Database, open_db: OpenDb) -> None:
    last = games.append_segments(COLLECTION, segments("v1", unit_vectors(3))).commit_sequence
    games.close()
    reopened = open_db()
    [stats] = reopened.stats(COLLECTION)
    assert reopened.commit_sequence() == last == stats.levels[0].indexed_sequence


@pytest.mark.parametrize("delete", ["video", "collection"])
def test_commit_sequence_does_not_go_back_when_the_latest_nodes_were_deleted(
    games: Database, open_db: OpenDb, delete: str
) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(3)))
    last = games.append_segments(COLLECTION, segments("v2", unit_vectors(3))).commit_sequence
    games.delete_video(COLLECTION, "v2") if delete == "video" else games.delete_collection(COLLECTION)
    games.close()
    reopened = open_db()
    assert reopened.commit_sequence() == last, "the gauge and stats never go back"


def test_second_open_of_a_directory_in_use_is_unavailable(db: Database, data_dir: Path) -> None:
    with pytest.raises(Unavailable) as err:
        Database.open(data_dir)
    assert "in use" in str(err.value)
    db.close()
    Database.open(data_dir).close()


def test_a_close_whose_index_save_fails_still_closes_the_store(
    games: Database, open_db: OpenDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is released only once the store is closed, and nothing is lost; the
    failed save is logged, not raised (a stop on a full disk exits cleanly)."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(30)))

    def full_disk(changed_only: bool = False) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(games, "save_indexes", full_disk)
    assert games.close() is False  # what a server's stop logs by
    with pytest.raises(Unavailable, match="closed"):
        games.store.cursor().execute("SELECT 1")
    reopened = open_db()
    assert segment_count(reopened) == 30
    assert reopened.search(query(unit_vectors(30)[7])).hits[0].node.id == f"v1@{7 * SEGMENT_MS}"


def test_a_closed_database_says_so_and_how_to_go_on(games: Database) -> None:
    """Calls after ``close`` (a thread still holding the database during a shutdown) get
    UNAVAILABLE naming the closed database, not DuckDB's own connection error, and a
    second close does nothing."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(30)))
    games.close()
    calls = [
        lambda: games.search(query(unit_vectors(30)[7])),
        lambda: games.append_segments(COLLECTION, segments("v2", unit_vectors(3))),
        lambda: games.get_collection(COLLECTION),
        lambda: games.create_video(COLLECTION, "v3", 10_000),
    ]
    for call in calls:
        with pytest.raises(Unavailable, match="is closed; open it again"):
            call()
    games.close()


def test_an_index_save_waits_while_a_snapshot_copies_the_files(games: Database) -> None:
    """A graph file and its sidecar are replaced one after the other: a copy must not
    take one of a pair from before a save and the other from after it."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(30)))
    saver = threading.Thread(target=games.save_indexes)
    with games.indexes.saves_paused():
        saver.start()
        saver.join(0.3)
        assert saver.is_alive()
    saver.join(10)
    assert not saver.is_alive() and not any(index.dirty for index in games.indexes.of_collection(1).values())


def test_a_snapshot_that_cannot_save_the_data_directorys_own_index_blames_it_not_the_destination(
    games: Database, tmp_path: Path
) -> None:
    # A save of the data directory's own index failing before the copy (a full disk, a
    # directory in its way) read "cannot write the snapshot to DEST": the wrong disk.
    games.append_segments(COLLECTION, segments("v1", unit_vectors(30)))
    games.save_indexes()
    games.append_segments(COLLECTION, segments("v2", unit_vectors(3)))  # the index to save again
    graph = index_file(games.data_dir)
    graph.unlink()
    graph.mkdir()  # what the save must replace is a directory now
    destination = tmp_path / "snap"
    with pytest.raises(FailedPrecondition) as refused:
        games.snapshot(str(destination))
    assert refused.value.field == "data_dir" and "cannot save the data directory's own files" in str(refused.value)
    assert str(games.data_dir) in str(refused.value) and not any(destination.iterdir())


# -- index recovery -----------------------------------------------------------------------


def index_file(data_dir: Path) -> Path:
    [path] = data_dir.glob("indexes/*/segment.usearch")
    return path


def delete_index(path: Path) -> None:
    path.unlink()


def truncate_index(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_middle_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def delete_sidecar(path: Path) -> None:
    path.with_suffix(".json").unlink()


def garble_sidecar(path: Path) -> None:
    path.with_suffix(".json").write_text("{ not json")


def sidecar_not_an_object(path: Path) -> None:
    path.with_suffix(".json").write_text("[]")


def sidecar_without_watermark(path: Path) -> None:
    sidecar = json.loads(path.with_suffix(".json").read_text())
    del sidecar["watermark"]
    path.with_suffix(".json").write_text(json.dumps(sidecar))


def sidecar_watermark_not_a_count(path: Path) -> None:
    sidecar = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps(sidecar | {"watermark": "soon"}))


def keep_index(path: Path) -> None:
    assert path.is_file()


@pytest.mark.parametrize(
    "damage",
    [
        keep_index,
        delete_index,
        truncate_index,
        flip_middle_bytes,
        delete_sidecar,
        garble_sidecar,
        sidecar_not_an_object,
        sidecar_without_watermark,
        sidecar_watermark_not_a_count,
    ],
    ids=lambda f: f.__name__.replace("_", "-"),
)
def test_damaged_index_is_rebuilt_on_open(
    games: Database, open_db: OpenDb, data_dir: Path, damage: Callable[[Path], None]
) -> None:
    vectors = unit_vectors(40, seed=7)
    ids = games.append_segments(COLLECTION, segments("v1", vectors)).segment_ids
    games.close()
    damage(index_file(data_dir))
    reopened = open_db()
    assert segment_count(reopened) == indexed_count(reopened) == 40
    assert_each_segment_finds_itself(reopened, ids, vectors)
    cid = reopened.get_collection(COLLECTION).id
    # The rebuilt graph is saved as far as it is linked; once linked, a save holds all of it.
    rebuilt = reopened.indexes.find(cid, Level.SEGMENT)
    assert rebuilt is not None
    rebuilt.link_all()
    reopened.save_indexes()
    stored = lambda watermark: nodes.vectors_until(reopened.store.cursor(), cid, Level.SEGMENT, watermark)  # noqa: E731
    repaired = LevelIndex(index_file(data_dir), DIM, Metric.COSINE, reopened.indexes.segment_params).load(stored)
    assert repaired is not None and repaired.count == 40


def test_a_recovery_abandoned_by_a_stop_ends_soon_and_the_next_start_recovers(
    games: Database, open_db: OpenDb, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop while the indexes are rebuilt does not wait for every level's rebuild (at
    1 M, about 90 s): it stops linking, recovers no further level, and the next start
    catches up what was left."""
    vectors = unit_vectors(60, seed=9)
    ids = games.append_segments(COLLECTION, segments("v1", vectors)).segment_ids
    games.build_video(COLLECTION, "v1")
    games.close()
    delete_index(index_file(data_dir))
    stopping = Database.open(data_dir, fast_options(), recover=False)
    recovered: list[Level] = []
    real = LevelIndexes.recover

    def recover(self: LevelIndexes, cur: object, coll: object, level: Level) -> None:
        recovered.append(level)
        stopping.abandon_recovery()  # the stop comes during the first level's rebuild
        real(self, cur, coll, level)

    monkeypatch.setattr(LevelIndexes, "recover", recover)
    with pytest.raises(Unavailable):
        stopping.recover()
    assert len(recovered) == 1
    assert stopping.close() is True  # what was recovered is saved; a stop is no failed read
    monkeypatch.undo()
    reopened = open_db()
    assert segment_count(reopened) == indexed_count(reopened) == 60
    assert_each_segment_finds_itself(reopened, ids, vectors)
    assert reopened.verify(COLLECTION).ok


def test_a_stop_during_the_last_levels_recovery_skips_the_warm_up(
    games: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up after a collection's levels loads its text encoder (seconds; more on a
    machine's first start): a stop asked for meanwhile waited for it."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(30, seed=9)))
    games.build_video(COLLECTION, "v1")
    games.close()
    stopping = Database.open(data_dir, fast_options(), recover=False)
    real, warmed = LevelIndexes.recover, []

    def recover(self: LevelIndexes, cur: object, coll: object, level: Level) -> None:
        real(self, cur, coll, level)
        if level is Level.VIDEO:
            stopping.abandon_recovery()  # the stop comes as the last level is recovered

    monkeypatch.setattr(LevelIndexes, "recover", recover)
    monkeypatch.setattr(stopping.searcher, "warm", lambda coll, levels: warmed.append(coll.name))
    with pytest.raises(Unavailable):
        stopping.recover()
    assert warmed == []
    assert stopping.close() is True


def crash(db: Database) -> None:
    """Drop a database the way a killed process would: no index save, no checkpoint."""
    db._closed = True  # keep the fixture's teardown from saving this stale view later
    db._lock_file.close()
    db.store._con.close()


def test_appends_after_the_last_index_save_survive_a_crash(games: Database, open_db: OpenDb) -> None:
    saved, unsaved = unit_vectors(20, seed=1), unit_vectors(20, seed=2)
    first = games.append_segments(COLLECTION, segments("v1", saved))
    games.save_indexes()
    second = games.append_segments(COLLECTION, segments("v2", unsaved))
    crash(games)
    reopened = open_db()
    assert segment_count(reopened) == indexed_count(reopened) == 40
    assert_each_segment_finds_itself(reopened, first.segment_ids + second.segment_ids, np.vstack([saved, unsaved]))


def test_a_store_that_failed_closes_without_saving_indexes_or_a_checkpoint(
    games: Database, open_db: OpenDb, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the store failed (a full disk: DuckDB refuses every statement), a close writes
    neither index files, which could cover commits the store lost, nor a checkpoint, which
    would fail; the next open recovers from what is on disk."""
    first = games.append_segments(COLLECTION, segments("v1", unit_vectors(20, seed=1)))
    games.save_indexes()
    saved = index_file(data_dir).stat().st_mtime_ns
    games.append_segments(COLLECTION, segments("v2", unit_vectors(20, seed=2)))
    monkeypatch.setattr(games.store, "failure", lambda: "the disk is full")
    checkpoints: list[bool] = []
    monkeypatch.setattr(games.store, "checkpoint", lambda: checkpoints.append(True))
    assert games.save_indexes() == 0
    games.close()  # no exception
    assert index_file(data_dir).stat().st_mtime_ns == saved and checkpoints == []
    monkeypatch.undo()
    reopened = open_db()
    assert segment_count(reopened) == indexed_count(reopened) == 40
    assert reopened.verify().ok and first.segment_ids


def test_video_deleted_after_the_last_index_save_stays_deleted_after_a_crash(games: Database, open_db: OpenDb) -> None:
    kept, dropped = unit_vectors(10, seed=1), unit_vectors(10, seed=2)
    ids = games.append_segments(COLLECTION, segments("v1", kept)).segment_ids
    games.append_segments(COLLECTION, segments("v2", dropped))
    games.save_indexes()
    games.delete_video(COLLECTION, "v2")
    crash(games)
    reopened = open_db()
    assert segment_count(reopened) == indexed_count(reopened) == 10
    hits = reopened.search(query(dropped[0], top_k=20)).hits
    assert [h.rank for h in hits] == list(range(1, 11))
    assert {h.node.video_id for h in hits} == {"v1"}
    assert_each_segment_finds_itself(reopened, ids, kept)


@pytest.mark.parametrize("metric", [Metric.COSINE, Metric.INNER_PRODUCT])
def test_nodes_deleted_after_the_last_index_save_leave_the_saved_graph_without_a_rebuild(
    db: Database, open_db: OpenDb, caplog: pytest.LogCaptureFixture, metric: Metric
) -> None:
    """A crash after a delete (a video, and the parents a rebuild of another's tree
    replaced) costs their removal from the loaded graph, not a rebuild of the level:
    whether the graph is quantized (cosine) or keeps its own vectors (inner product)."""
    games = db
    games.create_collection(COLLECTION, EmbeddingSpace(DIM, metric=metric))
    for video_id, seed in (("v1", 1), ("v2", 2)):
        games.create_video(COLLECTION, video_id)
        games.append_segments(COLLECTION, segments(video_id, unit_vectors(30, seed=seed)))
        games.build_video(COLLECTION, video_id)
    games.save_indexes()
    games.delete_video(COLLECTION, "v2")
    games.build_video(COLLECTION, "v1")
    crash(games)
    with caplog.at_level(logging.INFO, logger="hierarchy"):
        reopened = open_db()
    rebuilt = [r.getMessage() for r in caplog.records if "rebuil" in r.getMessage()]
    assert rebuilt == []
    assert segment_count(reopened) == indexed_count(reopened) == 30
    assert reopened.verify().ok


KILLED_WRITER = """
import os, sys
from hierarchy import nodes
from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace
from tests.hierarchy.helpers import COLLECTION, DIM, fast_options, segments, unit_vectors

db = Database.open(sys.argv[1], fast_options())
db.create_collection(COLLECTION, EmbeddingSpace(DIM))
db.create_video(COLLECTION, "v1")
db.append_segments(COLLECTION, segments("v1", unit_vectors(20, seed=1)))
db.save_indexes()
db.append_segments(COLLECTION, segments("v1", unit_vectors(20, seed=2), first_ms=20_000))
os._exit(0)
"""


def test_killed_process_loses_no_acknowledged_segment(open_db: OpenDb, data_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(data_dir)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    db = open_db()
    assert segment_count(db) == indexed_count(db) == 40
    ids = [f"v1@{i * SEGMENT_MS}" for i in range(40)]
    assert_each_segment_finds_itself(db, ids, np.vstack([unit_vectors(20, seed=1), unit_vectors(20, seed=2)]))


def test_index_files_of_a_collection_deleted_before_a_crash_are_removed_on_open(
    games: Database, open_db: OpenDb, data_dir: Path
) -> None:
    """A crash between a delete's commit and its file removal leaves the files of a
    collection the store no longer has (and a save cut off leaves its temporary file)."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(5)))
    games.close()
    live = data_dir / "indexes" / "c1"
    orphan = data_dir / "indexes" / "c99"
    orphan.mkdir(parents=True)
    (orphan / "segment.usearch").write_bytes(b"graph of a deleted collection")
    (live / "segment.tmp").write_bytes(b"cut off")
    db = open_db()
    assert not orphan.exists() and not (live / "segment.tmp").exists()
    assert (live / "segment.usearch").exists() and segment_count(db) == indexed_count(db) == 5


def test_a_collection_deleted_while_its_index_is_saved_leaves_no_file(games: Database, data_dir: Path) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(5)))
    index = games.indexes.find(games.get_collection(COLLECTION).id, Level.SEGMENT)
    assert index is not None
    with index.save_lock:  # a save and the delete both wait here; either may go first
        saving = threading.Thread(target=index.save)
        deleting = threading.Thread(target=games.delete_collection, args=(COLLECTION,))
        saving.start()
        deleting.start()
        deleting.join(0.3)
    saving.join(30)
    deleting.join(30)
    assert not (data_dir / "indexes" / "c1").exists()


def test_a_stop_while_writes_wait_for_the_graph_loses_none(open_db: OpenDb) -> None:
    db = open_db(index=IndexParams(exact_below=0))  # HNSW from the first vector
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    vectors = unit_vectors(600, seed=21)
    ids = []
    for lo in range(0, 600, 100):
        ids += db.append_segments(COLLECTION, segments("v1", vectors[lo : lo + 100], lo * SEGMENT_MS)).segment_ids
    assert indexed_count(db) == 600  # searchable, linked or not
    assert_each_segment_finds_itself(db, ids[::7], vectors[::7])
    report = db.verify(COLLECTION)
    assert report.ok, report.problems
    db.close()  # saves the graph as far as it is linked; the rest is caught up on open
    reopened = open_db(index=IndexParams(exact_below=0))
    assert segment_count(reopened) == indexed_count(reopened) == 600
    assert_each_segment_finds_itself(reopened, ids, vectors)


def test_a_lock_file_unlinked_after_it_was_opened_is_not_the_lock_taken(tmp_path: Path) -> None:
    # A server that opened LOCK just before a refused offline run removed the one it made
    # would lock a file no other process can see, beside a new LOCK anyone can take.
    stale = process.open_lock_file(tmp_path)
    (tmp_path / "LOCK").unlink()
    assert not process._same_file(stale, tmp_path / "LOCK")
    stale.close()
    held = process.lock_directory(tmp_path)  # takes the directory's LOCK, made anew
    try:
        assert process._same_file(held, tmp_path / "LOCK")
        with pytest.raises(Unavailable, match="in use"), process.offline(tmp_path, "compacting it"):
            pass
    finally:
        held.close()
