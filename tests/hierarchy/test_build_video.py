"""Building a stored video's tree: every level stored, linked, indexed and searchable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from hierarchy import builder, catalog, nodes, operations
from hierarchy.db import OPTIMISTIC_BUILDS, Database
from hierarchy.errors import FailedPrecondition, InvalidArgument, NotFound
from hierarchy.types import EmbeddingSpace, Level, Metric, SearchQuery, VideoState
from tests.hierarchy.conftest import OpenDb
from tests.hierarchy.helpers import COLLECTION, DIM, segments, unit_vectors


def _load(games: Database, count: int = 60) -> np.ndarray:
    vectors = unit_vectors(count, seed=11)
    games.append_segments(COLLECTION, segments("v1", vectors))
    return vectors


def test_every_level_is_built_and_searchable(games: Database) -> None:
    vectors = _load(games)
    counts = games.build_video(COLLECTION, "v1")
    assert counts[Level.VIDEO] == 1 and all(counts[level] >= 1 for level in counts)
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        hits = games.search(SearchQuery(COLLECTION, level, vector=vectors[5], top_k=100)).hits
        assert len(hits) == counts[level]
        assert all(h.node.level is level and h.node.video_id == "v1" for h in hits)
    [root] = games.search(SearchQuery(COLLECTION, Level.VIDEO, vector=vectors[0], top_k=1)).hits
    last_end = segments("v1", vectors)[-1].end_ms
    assert (root.node.start_ms, root.node.end_ms, root.node.child_count) == (0, last_end, counts[Level.HALF])


def test_segments_point_at_their_scene(games: Database) -> None:
    vectors = _load(games)
    games.build_video(COLLECTION, "v1")
    hit = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=vectors[30], top_k=1)).hits[0]
    scenes = games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[30], top_k=100)).hits
    parent = next(s.node for s in scenes if s.node.id == hit.node.parent_id)
    assert parent.start_ms <= hit.node.start_ms and hit.node.end_ms <= parent.end_ms


def test_rebuild_replaces_the_tree_without_duplicates(games: Database) -> None:
    _load(games)
    first = games.build_video(COLLECTION, "v1")
    second = games.build_video(COLLECTION, "v1")
    assert first == second
    stats = {s.level: s for s in games.stats(COLLECTION)[0].levels}
    for level, count in second.items():
        assert stats[level].node_count == stats[level].indexed_count == count


def test_tree_survives_restart(games: Database, open_db: OpenDb, data_dir: object) -> None:
    vectors = _load(games)
    games.build_video(COLLECTION, "v1")
    before = [h.node.id for h in games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[3])).hits]
    games.close()
    reopened = open_db()
    after = [h.node.id for h in reopened.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[3])).hits]
    assert after == before


def test_video_without_segments_cannot_be_built(games: Database) -> None:
    with pytest.raises(FailedPrecondition) as info:
        games.build_video(COLLECTION, "v2")
    assert info.value.field == "video_id"


def test_a_seal_that_fails_to_commit_leaves_the_video_as_it_was(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hints, the new tree and the sealed state commit in one transaction: a failure
    # inside it (as a crash would) leaves the video open, with its old hints and no tree.
    _load(games)

    def refuse(*args: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(catalog, "set_video_state", refuse)
    with pytest.raises(RuntimeError):
        games.seal_video(COLLECTION, "v1", hints={Level.HALF: [30_000]})
    video = games.get_video(COLLECTION, "v1")
    assert (video.state, video.hints) == (VideoState.OPEN, {})
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        assert games.search(SearchQuery(COLLECTION, level, vector=unit_vectors(1)[0], top_k=5)).hits == []
    monkeypatch.undo()
    video = games.seal_video(COLLECTION, "v1", hints={Level.HALF: [30_000]})
    assert (video.state, video.hints) == (VideoState.SEALED, {Level.HALF: [30_000]})
    assert video == games.get_video(COLLECTION, "v1")  # as stored, its segments counted
    assert video.segment_count > 0
    halves = games.search(SearchQuery(COLLECTION, Level.HALF, vector=unit_vectors(1)[0], top_k=5)).hits
    assert sorted(h.node.start_ms for h in halves) == [0, 30_000]


def test_hints_past_a_known_duration_are_refused_at_create_and_at_seal(games: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        games.create_video(COLLECTION, "timed", duration_ms=60_000, hints={Level.HALF: [60_000]})
    assert err.value.field == "hints[0].cut_ms"
    games.create_video(COLLECTION, "timed", duration_ms=60_000)
    games.append_segments(COLLECTION, segments("timed", unit_vectors(20, seed=3)))
    with pytest.raises(InvalidArgument, match="duration 60000 ms"):
        games.seal_video(COLLECTION, "timed", hints={Level.HALF: [90_000]})
    assert games.get_video(COLLECTION, "timed").state is VideoState.OPEN
    # Bad hints are named before the video is looked up; good ones on a missing video are not found.
    with pytest.raises(InvalidArgument) as bad:
        games.seal_video(COLLECTION, "nowhere", hints={Level.SEGMENT: [5]})
    assert bad.value.field == "hints[0].level"
    with pytest.raises(NotFound):
        games.seal_video(COLLECTION, "nowhere", hints={Level.HALF: [5]})


# -- trees are built outside the write lock ------------------------------------------------


def _late_segment(games: Database, start_ms: int) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(1, seed=start_ms), first_ms=start_ms))


def _root_end(games: Database) -> int:
    [root] = games.search(SearchQuery(COLLECTION, Level.VIDEO, vector=unit_vectors(1)[0], top_k=1)).hits
    return root.node.end_ms


def test_a_segment_appended_while_the_tree_is_built_is_in_the_sealed_tree(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(games)  # 60 segments: 0 .. 60 s
    build, calls = builder.build, []

    def append_during_the_first_build(*args: Any, **kwargs: Any) -> builder.Tree:
        calls.append(1)
        if len(calls) == 1:
            _late_segment(games, 60_000)  # commits while the tree of 60 segments is built
        return build(*args, **kwargs)

    monkeypatch.setattr(builder, "build", append_during_the_first_build)
    games.seal_video(COLLECTION, "v1")
    assert len(calls) == 2  # the stale tree was built again, not committed
    assert _root_end(games) == 61_000
    late = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=60_000)[0], top_k=1))
    assert late.hits[0].node.start_ms == 60_000 and late.hits[0].node.parent_id


def test_the_trees_of_two_videos_are_built_at_the_same_time(games: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(games)
    games.append_segments(COLLECTION, segments("v2", unit_vectors(40, seed=12)))
    build, both_building = builder.build, threading.Barrier(2, timeout=10)

    def meet_the_other_build(*args: Any, **kwargs: Any) -> builder.Tree:
        both_building.wait()  # breaks (and the seal fails) if the builds run one at a time
        return build(*args, **kwargs)

    monkeypatch.setattr(builder, "build", meet_the_other_build)
    with ThreadPoolExecutor(2) as pool:
        sealed = list(pool.map(lambda video: games.seal_video(COLLECTION, video), ["v1", "v2"]))
    assert [video.state for video in sealed] == [VideoState.SEALED, VideoState.SEALED]


def test_a_video_that_keeps_changing_is_built_at_last_with_its_writers_held(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(games)
    build, calls, blocked = builder.build, [], []

    def change_it_each_time(*args: Any, **kwargs: Any) -> builder.Tree:
        calls.append(1)
        start_ms = 59_000 + 1000 * len(calls)
        if len(calls) <= OPTIMISTIC_BUILDS:
            _late_segment(games, start_ms)
        else:  # the last attempt: a writer must wait for the seal, then find the video sealed
            writer = threading.Thread(target=lambda: blocked.append(_refused(games, start_ms)))
            writer.start()
            writer.join(0.5)
            assert writer.is_alive()
        return build(*args, **kwargs)

    monkeypatch.setattr(builder, "build", change_it_each_time)
    games.seal_video(COLLECTION, "v1")
    assert len(calls) == OPTIMISTIC_BUILDS + 1
    assert _root_end(games) == 60_000 + 1000 * OPTIMISTIC_BUILDS
    deadline = time.monotonic() + 10
    while not blocked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blocked == ["video_id"]


def _refused(games: Database, start_ms: int) -> str:
    """The field a refused append names ("" when it was taken)."""
    try:
        _late_segment(games, start_ms)
    except FailedPrecondition as exc:
        return exc.field.rsplit(".", 1)[-1]
    return ""


def _after_each_build(monkeypatch: pytest.MonkeyPatch, change: Callable[[], object]) -> None:
    """Make every tree build run ``change`` once its tree is built, before it commits."""
    build = builder.build

    def build_then_change(*args: Any, **kwargs: Any) -> builder.Tree:
        tree = build(*args, **kwargs)
        change()
        return tree

    monkeypatch.setattr(builder, "build", build_then_change)


def test_a_video_deleted_while_its_tree_is_built_is_not_resurrected(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(games)
    _after_each_build(monkeypatch, lambda: games.delete_video(COLLECTION, "v1"))
    with pytest.raises(NotFound) as info:
        games.seal_video(COLLECTION, "v1")
    assert info.value.field == "video_id"
    stats = {s.level: s for s in games.stats(COLLECTION)[0].levels}
    assert all(s.node_count == s.indexed_count == 0 for s in stats.values())


def test_a_collection_deleted_while_a_tree_is_built_keeps_no_node(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(games)
    _after_each_build(monkeypatch, lambda: games.delete_collection(COLLECTION))
    with pytest.raises(NotFound):
        games.seal_video(COLLECTION, "v1")
    assert games.store.cursor().execute("SELECT count(*) FROM nodes").fetchone() == (0,)


def test_a_video_deleted_before_its_turn_is_left_out_and_the_rest_are_built(games: Database) -> None:
    for video_id in ("v1", "v2"):
        games.append_segments(COLLECTION, segments(video_id, unit_vectors(12, seed=len(video_id))))
    games.create_video(COLLECTION, "v3")
    games.append_segments(COLLECTION, segments("v3", unit_vectors(12, seed=3)))
    turns = games.operations._turns  # every running slot taken: the build waits its turn
    for _ in range(operations.MAX_RUNNING):
        turns.acquire()
    try:
        op = games.build_hierarchy(COLLECTION)
        games.delete_video(COLLECTION, "v2")
    finally:
        for _ in range(operations.MAX_RUNNING):
            turns.release()
    games.operations.wait(30)
    final = games.operations.get(op.name)
    assert (final.done, final.error, final.progress, final.total) == (True, "", 3, 3)
    assert final.skipped == ("v2",)
    for video_id in ("v1", "v3"):
        assert games.navigator.node(COLLECTION, f"{video_id}/video/0").video_id == video_id


def test_a_build_whose_collection_was_deleted_and_made_again_fails_and_builds_nothing(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(12, seed=1)))
    turns = games.operations._turns
    for _ in range(operations.MAX_RUNNING):
        turns.acquire()
    try:
        op = games.build_hierarchy(COLLECTION)
        games.delete_collection(COLLECTION)
        games.create_collection(COLLECTION, EmbeddingSpace(DIM))  # same name, another collection
        games.create_video(COLLECTION, "v1")
        games.append_segments(COLLECTION, segments("v1", unit_vectors(12, seed=2)))
    finally:
        for _ in range(operations.MAX_RUNNING):
            turns.release()
    games.operations.wait(30)
    final = games.operations.get(op.name)
    assert final.done and "deleted" in final.error and final.skipped == ()
    with pytest.raises(NotFound):
        games.navigator.node(COLLECTION, "v1/video/0")  # the new collection's video was not built


@pytest.mark.parametrize("metric", [Metric.L2_SQUARED, Metric.INNER_PRODUCT])
def test_parents_keep_their_childrens_length_and_place_outside_cosine(db: Database, metric: Metric) -> None:
    # Two videos of moments along one axis, ten times apart. Scaled to unit length, the
    # far video's scenes sat on the query (L2 distance 0) above the near one's.
    db.create_collection("m", EmbeddingSpace(8, metric))
    axis = np.eye(8, dtype=np.float32)[0]
    noise = np.random.default_rng(1).normal(0, 0.01, (10, 8)).astype(np.float32)
    for video, scale in (("far", 10.0), ("near", 1.0)):
        db.create_video("m", video)
        db.append_segments("m", segments(video, scale * axis + noise))
        db.build_video("m", video)
    want = {"far": 10.0 * axis + noise.mean(axis=0), "near": axis + noise.mean(axis=0)}
    query = axis if metric is Metric.L2_SQUARED else -axis  # under IP the shorter parent is nearer
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        hits = db.search(SearchQuery("m", level, vector=query, top_k=10, include_evidence=False)).hits
        assert hits[0].node.video_id == "near"
        for hit in hits:  # every level's vector is its moments' mean (all are 2 s long)
            expected = want[hit.node.video_id]
            score = -float(np.sum((expected - query) ** 2)) if metric is Metric.L2_SQUARED else float(expected @ query)
            assert hit.similarity == pytest.approx(score, rel=1e-2, abs=1e-2)


def test_cosine_parents_are_unit_length(db: Database) -> None:
    db.create_collection("c", EmbeddingSpace(8))
    db.create_video("c", "v")
    db.append_segments("c", segments("v", 5.0 * unit_vectors(30, dim=8, seed=4)))
    db.build_video("c", "v")
    cid = db.get_collection("c").id
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        _, vectors, _ = nodes.vectors_since(db.store.cursor(), cid, level, -1)
        assert len(vectors) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_a_video_deleted_between_the_reads_of_a_build_is_not_found(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its row was read, then its segments, gone with it: 'no segments to build a tree from'.
    _load(games, 20)
    read = nodes.video_segments

    def deleted_first(*args: Any) -> Any:
        games.delete_video(COLLECTION, "v1")
        return read(*args)

    monkeypatch.setattr(nodes, "video_segments", deleted_first)
    with pytest.raises(NotFound) as err:
        games.build_video(COLLECTION, "v1")
    assert err.value.field == "video_id"
