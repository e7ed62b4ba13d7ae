"""Consistency checks: a healthy database verifies clean; each kind of damage done behind
the facade's back is reported at its collection and level."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.errors import NotFound
from hierarchy.index import LevelIndex
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery, SegmentInput
from hierarchy.verify import ProblemKind
from tests.hierarchy.helpers import COLLECTION, DIM, OpenDb, fast_options, segments, unit_vectors

Damage = Callable[[Database], None]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed data directory: collection ``games`` with v1 sealed (60 segments; 4 scenes,
    2 drives, 2 halves by hints) and v2 built, then grown by 5 unparented segments."""
    path = tmp_path_factory.mktemp("verify") / "data"
    db = Database.open(path, fast_options())
    try:
        db.create_collection(COLLECTION, EmbeddingSpace(DIM))
        for video_id in ("v1", "v2"):
            db.create_video(COLLECTION, video_id)
        db.append_segments(COLLECTION, segments("v1", unit_vectors(60)))
        hints = {Level.SCENE: [15_000, 30_000, 45_000], Level.DRIVE: [30_000], Level.HALF: [30_000]}
        db.seal_video(COLLECTION, "v1", hints)
        db.append_segments(COLLECTION, segments("v2", unit_vectors(40, seed=1)))
        db.build_video(COLLECTION, "v2")
        db.append_segments(COLLECTION, segments("v2", unit_vectors(5, seed=2), first_ms=100_000))
    finally:
        db.close()
    return path


@pytest.fixture
def built(template: Path, data_dir: Path, open_db: OpenDb) -> Database:
    """An open copy of the template, each test damaging its own."""
    shutil.copytree(template, data_dir)
    return open_db(data_dir)


def index_of(db: Database, level: Level) -> LevelIndex:
    cid = db.get_collection(COLLECTION).id
    return db.indexes.find(cid, level)


def key_of(db: Database, node_id: str) -> int:
    return int(db.store.cursor().execute("SELECT key FROM nodes WHERE node_id = ?", [node_id]).fetchall()[0][0])


def execute(db: Database, sql: str) -> None:
    db.store.cursor().execute(sql)


def test_a_healthy_database_verifies_clean(built: Database) -> None:
    report = built.verify()
    assert report.ok, report.problems
    levels = len(Level)
    assert (report.collections, report.levels, report.videos) == (1, levels, 2)
    assert report.nodes == built.get_collection(COLLECTION).segment_count + sum(
        s.node_count for s in built.stats(COLLECTION)[0].levels if s.level is not Level.SEGMENT
    )
    assert report.vectors == report.nodes  # under the sample size, every vector is compared


def test_an_empty_collection_and_an_open_unbuilt_video_verify_clean(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(10)))
    report = games.verify(COLLECTION)
    assert report.ok, report.problems
    assert report.videos == 0


def test_the_levels_checked_are_the_same_before_and_after_a_restart(games: Database, open_db: OpenDb) -> None:
    # A routed search makes empty indexes of the levels no tree has filled yet; a restart
    # recovers only the levels holding nodes. Neither may change what Verify counts.
    games.append_segments(COLLECTION, segments("v1", unit_vectors(12)))
    games.search(SearchQuery(COLLECTION, vector=unit_vectors(1, seed=5)[0], mode=Mode.AUTO))
    before = games.verify(COLLECTION)
    games.close()
    after = open_db().verify(COLLECTION)
    assert before.ok and after.ok and before.levels == after.levels == 1


def test_a_reopened_video_with_a_segment_in_a_gap_verifies_clean(games: Database) -> None:
    """A reopened video takes a segment between two of a scene's (the API allows it):
    until the next build it has no parent, and its scene's run is not broken by it."""
    rows = [SegmentInput("gap", i * 1000, i * 1000 + 800, vector) for i, vector in enumerate(unit_vectors(30, seed=4))]
    games.create_video(COLLECTION, "gap")
    games.append_segments(COLLECTION, rows)
    games.seal_video(COLLECTION, "gap")
    games.reopen_video(COLLECTION, "gap")
    games.append_segments(COLLECTION, [SegmentInput("gap", 5800, 5900, unit_vectors(1, seed=9)[0])])
    report = games.verify(COLLECTION)
    assert report.ok, report.problems


def test_sampling_compares_at_most_the_sample(built: Database) -> None:
    counts = [s.node_count for s in built.stats(COLLECTION)[0].levels]
    assert built.verify(sample=7).vectors == sum(min(7, n) for n in counts)


def test_an_unknown_collection_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        db.verify("nope")


def test_every_collection_is_checked_when_none_is_named(built: Database) -> None:
    built.create_collection("other", EmbeddingSpace(DIM))
    built.create_video("other", "x")
    built.append_segments("other", segments("x", unit_vectors(3)))
    index_of(built, Level.SEGMENT).remove(np.array([key_of(built, "v1@0")]))
    report = built.verify()
    assert report.collections == 2
    assert {p.collection for p in report.problems} == {COLLECTION}


def remove_from_index(db: Database) -> None:
    index_of(db, Level.SEGMENT).remove(np.array([key_of(db, "v1@3000")]))


def add_stray_vector(db: Database) -> None:
    index_of(db, Level.SCENE).add(np.array([10**12]), unit_vectors(1), 0)


def change_indexed_vector(db: Database) -> None:
    index = index_of(db, Level.SEGMENT)
    key = np.array([key_of(db, "v1@5000")])
    index.remove(key)
    index.add(key, unit_vectors(1, seed=99), index.watermark)


def lose_watermark(db: Database) -> None:
    index_of(db, Level.DRIVE).watermark = 0


def orphan_a_scene(db: Database) -> None:
    execute(db, "UPDATE nodes SET parent_id = 'v1/drive/999' WHERE node_id = 'v1/scene/0'")


def unparent_a_sealed_segment(db: Database) -> None:
    execute(db, "UPDATE nodes SET parent_id = '' WHERE node_id = 'v1@7000'")


def stretch_a_segment(db: Database) -> None:
    execute(db, "UPDATE nodes SET end_ms = end_ms + 500 WHERE node_id = 'v1@1000'")


def miscount_children(db: Database) -> None:
    execute(db, "UPDATE nodes SET child_count = child_count + 1 WHERE node_id = 'v1/half/0'")


def move_a_segment_to_the_last_scene(db: Database) -> None:
    last = db.store.cursor().execute(
        "SELECT node_id FROM nodes WHERE video_id = 'v1' AND level = 2 ORDER BY start_ms DESC LIMIT 1"
    )
    execute(db, f"UPDATE nodes SET parent_id = '{last.fetchall()[0][0]}' WHERE node_id = 'v1@0'")


def drop_the_root(db: Database) -> None:
    execute(db, "DELETE FROM nodes WHERE node_id = 'v2/video/0'")


@pytest.mark.parametrize(
    ("damage", "level", "kinds"),
    [
        (remove_from_index, Level.SEGMENT, {ProblemKind.COUNT, ProblemKind.MISSING_FROM_INDEX}),
        (add_stray_vector, Level.SCENE, {ProblemKind.COUNT, ProblemKind.MISSING_FROM_STORE}),
        (change_indexed_vector, Level.SEGMENT, {ProblemKind.VECTOR}),
        (lose_watermark, Level.DRIVE, {ProblemKind.WATERMARK}),
        (orphan_a_scene, Level.SCENE, {ProblemKind.PARENT}),
        (unparent_a_sealed_segment, Level.SEGMENT, {ProblemKind.PARENT}),
        (stretch_a_segment, Level.SEGMENT, {ProblemKind.OVERLAP}),
        (miscount_children, Level.HALF, {ProblemKind.CHILD_COUNT}),
        (move_a_segment_to_the_last_scene, Level.SEGMENT, {ProblemKind.SPAN}),
        (drop_the_root, Level.VIDEO, {ProblemKind.ROOT, ProblemKind.COUNT, ProblemKind.MISSING_FROM_STORE}),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_damage_is_reported_at_its_level(built: Database, damage: Damage, level: Level, kinds: set) -> None:
    damage(built)
    report = built.verify()
    found = {p.kind for p in report.problems if p.level is level}
    assert kinds <= found, report.problems
    assert all(p.collection == COLLECTION and p.message for p in report.problems)


def test_a_problem_names_the_nodes_at_fault(built: Database) -> None:
    remove_from_index(built)
    miscount_children(built)
    messages = " ".join(p.message for p in built.verify().problems)
    assert "v1@3000" in messages
    assert "v1/half/0" in messages


def test_children_out_of_order_break_contiguity(built: Database) -> None:
    scenes = (
        built.store.cursor()
        .execute("SELECT node_id FROM nodes WHERE video_id = 'v1' AND level = 2 ORDER BY start_ms")
        .fetchall()
    )
    second = scenes[1][0]
    # v1@0 now belongs to the second scene while its neighbours stay in the first.
    execute(built, f"UPDATE nodes SET parent_id = '{second}' WHERE node_id = 'v1@0'")
    kinds = {p.kind for p in built.verify().problems if p.level is Level.SCENE}
    assert ProblemKind.CONTIGUITY in kinds
