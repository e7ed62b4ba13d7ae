"""The in-memory rows of every node: what they answer is what the store holds, and they
never answer for a node written, rewritten or deleted after they were read."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hierarchy import nodes
from hierarchy.db import Database
from hierarchy.noderows import MAX_BLOCKS, REFRESH_AFTER, NodeRows, Snapshot
from hierarchy.types import EmbeddingSpace, Level, SearchQuery, SegmentInput
from tests.hierarchy.helpers import COLLECTION, DIM, SEGMENT_MS, OpenDb, unit_vectors


def _described(video_id: str, vectors: np.ndarray) -> list[SegmentInput]:
    """Segments with text, labels and attributes of every kind a client may send."""
    return [
        SegmentInput(
            video_id,
            i * SEGMENT_MS,
            (i + 1) * SEGMENT_MS,
            row,
            text=f"caption {i} – ünïcode",
            labels=["pass", "goal"] if i % 3 == 0 else ["pass"],
            attributes={"team": "home" if i % 2 else "away", "minute": i, "xg": 0.25 * i, "var": None},
            shot_cut=i % 5 == 0,
        )
        for i, row in enumerate(vectors)
    ]


def _run(video_id: str, first: int, count: int, seed: int) -> list[SegmentInput]:
    """``count`` back-to-back segments of a video from its ``first`` slot, with a caption."""
    return [
        SegmentInput(video_id, (first + j) * SEGMENT_MS, (first + j + 1) * SEGMENT_MS, row, text=f"seed {seed}")
        for j, row in enumerate(unit_vectors(count, seed=seed))
    ]


def _keys(db: Database, video_id: str) -> dict[Level, list[int]]:
    return {level: [int(k) for k in keys] for level, keys in nodes.video_keys(db.store.cursor(), 1, video_id).items()}


def _rows(db: Database) -> NodeRows:
    rows = db.node_cache.rows
    assert rows is not None
    return rows


def test_every_level_is_answered_as_the_store_holds_it(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(40, seed=1)))
    games.seal_video(COLLECTION, "v1")
    rows = NodeRows(games.store.cursor)
    rows.refresh()
    keys = [k for level_keys in _keys(games, "v1").values() for k in level_keys]
    assert {Level.SEGMENT, Level.SCENE, Level.VIDEO} <= set(_keys(games, "v1"))
    assert rows.get(keys) == nodes.by_keys(games.store.cursor(), keys)
    assert sum(n.shot_cut for n in rows.get(keys).values()) == 8  # every field read, a segment's shot cut too
    assert rows.get([10**12]) == {}  # a key never written is simply absent


def test_nodes_written_after_the_read_are_not_answered(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(10, seed=2)))
    rows = _rows(games)
    rows.refresh()
    games.append_segments(COLLECTION, _described("v2", unit_vectors(10, seed=3)))
    old, new = _keys(games, "v1")[Level.SEGMENT], _keys(games, "v2")[Level.SEGMENT]
    assert sorted(rows.get(old + new)) == old
    # A search over both reads the newer ones from the store.
    hits = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(10, seed=3)[4], top_k=1)).hits
    assert hits[0].node.video_id == "v2" and hits[0].node.text == "caption 4 – ünïcode"


def test_a_rebuilt_videos_rows_are_not_answered(games: Database) -> None:
    vectors = unit_vectors(60, seed=5)
    games.append_segments(COLLECTION, _described("v1", vectors))
    games.build_video(COLLECTION, "v1")
    rows = _rows(games)
    rows.refresh()
    segment = _keys(games, "v1")[Level.SEGMENT][30]
    before = rows.get([segment])[segment]
    # One scene cut, after the first segment: segment 30 now sits in the second scene.
    games.seal_video(COLLECTION, "v1", {Level.SCENE: [SEGMENT_MS]})
    assert before.parent_id != "v1/scene/1" and rows.get([segment]) == {}
    hit = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=vectors[30], top_k=1)).hits[0]
    assert hit.node.id == before.id and hit.node.parent_id == "v1/scene/1"
    assert hit.node == games.navigator.node(COLLECTION, hit.node.id)
    rows.refresh()
    assert rows.get([segment])[segment] == hit.node  # a fresh read holds the new parent


def test_a_deleted_videos_rows_are_not_answered(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(10, seed=6)))
    games.append_segments(COLLECTION, _described("v2", unit_vectors(10, seed=7)))
    rows = _rows(games)
    rows.refresh()
    gone, kept = _keys(games, "v1")[Level.SEGMENT], _keys(games, "v2")[Level.SEGMENT]
    games.delete_video(COLLECTION, "v1")
    assert sorted(rows.get(gone + kept)) == kept


def test_a_forget_during_a_read_applies_to_its_snapshot(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(10, seed=8)))
    keys = _keys(games, "v1")[Level.SEGMENT]
    rows: NodeRows

    def cursor_that_forgets_first():  # noqa: ANN202 - a DuckDB cursor
        rows.forget(keys[:3])  # a rebuild commits while this read is under way
        return games.store.cursor()

    rows = NodeRows(cursor_that_forgets_first)
    rows.refresh()
    assert sorted(rows.get(keys)) == keys[3:]


def test_an_invalidation_during_a_read_drops_its_snapshot(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(10, seed=9)))
    keys = _keys(games, "v1")[Level.SEGMENT]
    rows: NodeRows

    def cursor_that_invalidates_first():  # noqa: ANN202 - a DuckDB cursor
        rows.invalidate()  # a collection is deleted while this read is under way
        return games.store.cursor()

    rows = NodeRows(cursor_that_invalidates_first)
    rows.refresh()
    assert rows.get(keys) == {} and len(rows) == 0


def _wait_for_reads(rows: NodeRows, count: int, asking: list[int]) -> None:
    """Ask for ``asking`` until ``count`` reads have ended (a read waits out the spacing
    after the last one, so asking again may be what starts it). Asked ten times a second:
    on a busy machine, asking faster while a read runs piled up enough unanswered keys to
    start another read the test did not expect."""
    deadline = time.monotonic() + 30
    while rows.reads < count:
        assert time.monotonic() < deadline, "no read of the node rows came"
        rows.get(asking)
        time.sleep(0.1)


def test_unanswered_lookups_start_a_read_in_the_background(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(20, seed=10)))
    rows = NodeRows(games.store.cursor)
    first = _keys(games, "v1")[Level.SEGMENT]
    assert rows.get(first) == {}  # nothing read yet: the first look-up starts the first read
    _wait_for_reads(rows, 1, first)
    assert sorted(rows.get(first)) == first
    games.append_segments(COLLECTION, _run("v2", 0, REFRESH_AFTER, seed=11))
    later = _keys(games, "v2")[Level.SEGMENT]
    # On a busy machine a read of the asks above may still be under way, or just ended:
    # what follows is counted from after it, once the spacing after it allows another.
    deadline = time.monotonic() + 30
    while rows._reader is not None or time.monotonic() < rows._next_read:
        assert time.monotonic() < deadline, "a read of the node rows did not end"
        time.sleep(0.01)
    reads = rows.reads
    assert rows.get(later[:-1]) == {}  # one short of the count that starts a read
    time.sleep(0.05)
    assert rows.reads == reads and rows._reader is None
    _wait_for_reads(rows, reads + 1, later[-1:])
    assert sorted(rows.get(later)) == later
    rows.close()


def test_misses_counted_against_a_snapshot_since_replaced_start_no_read(games: Database) -> None:
    # A look-up that read the snapshot just before a read replaced it counted its misses
    # after: they pushed the next read early (a test saw two reads where one was due).
    games.append_segments(COLLECTION, _described("v1", unit_vectors(20, seed=10)))
    rows = NodeRows(games.store.cursor)
    before = rows._snapshot
    rows.refresh()
    while time.monotonic() < rows._next_read:  # the spacing after a read, which would stop one too
        time.sleep(0.01)
    rows._note_unanswered(REFRESH_AFTER, before)
    assert rows._reader is None and rows.reads == 1
    rows._note_unanswered(REFRESH_AFTER, rows._snapshot)  # counted against the current one
    rows.close()
    assert rows.reads == 2


def test_a_read_that_fails_unexpectedly_does_not_stop_later_reads(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(20, seed=10)))
    rows = NodeRows(games.store.cursor)
    keys = _keys(games, "v1")[Level.SEGMENT]
    real, failures = Snapshot.read.__func__, [1]  # type: ignore[attr-defined]

    def read(cls: type[Snapshot], cur: object) -> Snapshot:
        if failures:
            failures.pop()
            raise RuntimeError("the store's rows could not be converted")
        return real(cls, cur)

    monkeypatch.setattr(Snapshot, "read", classmethod(read))
    assert rows.get(keys) == {}  # starts the read that fails
    deadline = time.monotonic() + 10
    while (failures or rows._reader is not None) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rows.reads == 0 and rows._reader is None
    _wait_for_reads(rows, 1, keys)
    assert sorted(rows.get(keys)) == keys
    rows.close()


def test_hits_are_the_same_with_and_without_the_rows(open_db: OpenDb, tmp_path: Path) -> None:
    vectors = unit_vectors(80, seed=12)
    results = []
    for resident in (True, False):
        db = open_db(tmp_path / f"resident-{resident}", resident_nodes=resident)
        db.create_collection(COLLECTION, EmbeddingSpace(DIM))
        db.create_video(COLLECTION, "v1")
        db.append_segments(COLLECTION, _described("v1", vectors))
        db.seal_video(COLLECTION, "v1")
        assert (db.node_cache.rows is not None) is resident
        if db.node_cache.rows is not None:
            db.node_cache.rows.refresh()
        found = []
        for level in (Level.SEGMENT, Level.SCENE, Level.VIDEO):
            result = db.search(SearchQuery(COLLECTION, level, vector=vectors[7], top_k=5))
            found.append([(h.node, [e.node for e in h.evidence], h.ancestors) for h in result.hits])
        results.append(found)
    assert results[0] == results[1]


def test_a_reopened_database_holds_every_node_before_its_first_search(open_db: OpenDb, tmp_path: Path) -> None:
    db = open_db(tmp_path / "data")
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    db.append_segments(COLLECTION, _described("v1", unit_vectors(30, seed=13)))
    db.seal_video(COLLECTION, "v1")
    keys = [k for level_keys in _keys(db, "v1").values() for k in level_keys]
    db.close()
    again = open_db(tmp_path / "data")
    rows = _rows(again)
    assert rows.reads == 1 and len(rows) == len(keys)
    assert rows.get(keys) == nodes.by_keys(again.store.cursor(), keys)


def test_a_read_after_writes_adds_what_changed_as_one_block(games: Database) -> None:
    games.append_segments(COLLECTION, _described("v1", unit_vectors(30, seed=14)))
    games.seal_video(COLLECTION, "v1")
    rows = _rows(games)
    rows.refresh()
    assert rows.blocks == 1
    games.append_segments(COLLECTION, _described("v2", unit_vectors(20, seed=15)))  # new keys
    games.seal_video(COLLECTION, "v1", {Level.SCENE: [SEGMENT_MS]})  # v1's segments rewritten, parents replaced
    rows.refresh()
    assert rows.blocks == 2
    keys = [k for video in ("v1", "v2") for level_keys in _keys(games, video).values() for k in level_keys]
    assert rows.get(keys) == nodes.by_keys(games.store.cursor(), keys)
    assert len(rows) == len(keys)


def test_after_max_blocks_reads_a_whole_read_compacts_them(games: Database) -> None:
    rows = _rows(games)
    for i in range(MAX_BLOCKS + 1):
        games.append_segments(COLLECTION, _run("v1", 5 * i, 5, seed=20 + i))
        rows.refresh()
        assert rows.blocks == (i % MAX_BLOCKS) + 1
    keys = _keys(games, "v1")[Level.SEGMENT]
    assert rows.get(keys) == nodes.by_keys(games.store.cursor(), keys)


def test_rows_agree_with_the_store_through_any_writes(games: Database) -> None:
    """Appends, rebuilds and deletions in a random order, with reads between them: what the
    rows answer is what the store holds, and a key the store lost is never answered."""
    rng = np.random.default_rng(7)
    rows = _rows(games)
    ever: set[int] = set()
    length = {"v1": 0, "v2": 0}
    for step in range(14):
        video = ("v1", "v2")[int(rng.integers(2))]
        action = rng.choice(["append", "append", "seal", "delete", "read"])
        if action == "append":
            count = int(rng.integers(3, 12))
            games.append_segments(COLLECTION, _run(video, length[video], count, seed=100 + step))
            length[video] += count
        elif action == "seal" and length[video]:
            games.build_video(COLLECTION, video)
        elif action == "delete" and length[video]:
            games.delete_video(COLLECTION, video)
            games.create_video(COLLECTION, video)
            length[video] = 0
        else:
            rows.refresh()
        for v in ("v1", "v2"):
            ever |= {k for level_keys in _keys(games, v).values() for k in level_keys}
        stored = nodes.by_keys(games.store.cursor(), sorted(ever))
        answered = rows.get(sorted(ever))
        assert all(stored.get(k) == node for k, node in answered.items()), f"step {step}: {action}"
        attributes = rows.attributes(sorted(ever))  # one column, without building nodes
        assert all(k in stored and stored[k].attributes == a for k, a in attributes.items()), f"step {step}"
    rows.refresh()
    stored = nodes.by_keys(games.store.cursor(), sorted(ever))
    assert rows.get(sorted(ever)) == stored
    assert rows.attributes(sorted(ever)) == {k: node.attributes for k, node in stored.items()}
