"""Sealing videos and building their trees, through the gRPC client against a real server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import common_pb2, video_pb2
from service.server import StrataServer
from tests.service.conftest import DIM, load_match, rows, start_server, unit_vectors
from tools.soccer import SoccerDataset

LEVELS = {
    "scene": common_pb2.LEVEL_SCENE,
    "drive": common_pb2.LEVEL_DRIVE,
    "half": common_pb2.LEVEL_HALF,
    "video": common_pb2.LEVEL_VIDEO,
}
PROBE = np.ones(DIM, np.float32)  # any query vector: these tests list whole levels


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed(api: StrataClient, soccer: SoccerDataset) -> tuple[str, str]:
    """Collection ``sealed`` with the match sealed (read-only for the tests that use it)."""
    video_id = load_match(api, "sealed", soccer)
    api.seal_video("sealed", video_id)
    return "sealed", video_id


def level_nodes(client: StrataClient, collection: str, level: str) -> list[common_pb2.Node]:
    """Every node of a level of a collection, in time order (collections here are small)."""
    hits = client.search(collection, vector=PROBE, level=level, top_k=1000).hits
    return sorted((h.node for h in hits), key=lambda n: (n.video_id, n.start_ms))


def node_counts(client: StrataClient, collection: str) -> dict[int, tuple[int, int]]:
    """``level -> (node_count, indexed_count)`` from the stats."""
    return {s.level: (s.node_count, s.indexed_count) for s in client.stats(collection).collections[0].levels}


def build(client: StrataClient, collection: str, video_ids: tuple[str, ...] = (), **config: object):
    """Run BuildHierarchy to the end and return the final operation."""
    op = client.build_hierarchy(collection, video_ids, **config)
    return client.wait_operation(op.name, poll=0.02)


def rpc_error(call) -> StrataRpcError:
    with pytest.raises(StrataRpcError) as info:
        call()
    return info.value


# -- sealing -------------------------------------------------------------------------------


def test_seal_builds_every_level(api: StrataClient, sealed: tuple[str, str], soccer: SoccerDataset) -> None:
    collection, video_id = sealed
    counts = node_counts(api, collection)
    for name, level in LEVELS.items():
        found = level_nodes(api, collection, name)
        assert found, f"no {name} nodes after sealing"
        assert {n.level for n in found} == {level}
        assert {n.video_id for n in found} == {video_id}
        assert len(found) == counts[level][0] == counts[level][1]  # stored and indexed
    [root] = level_nodes(api, collection, "video")
    assert root.id == f"{video_id}/video/0"
    assert (root.start_ms, root.end_ms) == (soccer.segments[0]["start_ms"], soccer.segments[-1]["end_ms"])
    assert root.parent_id == ""
    video = api.get_video(collection, video_id)
    assert video.state == video_pb2.VIDEO_STATE_SEALED
    assert video.segment_count == len(soccer.segments)


def test_seal_answers_with_the_sealed_video_and_a_root_over_its_segments(api: StrataClient) -> None:
    api.create_collection("late", dimension=DIM)
    api.create_video("late", "v")
    api.append_segments("late", rows("v", unit_vectors(30, seed=4), start_index=5))  # 10 s .. 70 s
    answer = api.seal_video("late", "v")
    assert answer.state == video_pb2.VIDEO_STATE_SEALED and answer.segment_count == 30
    [root] = level_nodes(api, "late", "video")
    assert (root.start_ms, root.end_ms) == (10_000, 70_000)
    for name in ("scene", "drive", "half"):
        assert level_nodes(api, "late", name), name


def test_sealed_video_refuses_appends_until_reopened(api: StrataClient) -> None:
    api.create_collection("reopen", dimension=DIM)
    api.create_video("reopen", "open")
    api.create_video("reopen", "closed")
    api.append_segments("reopen", rows("closed", unit_vectors(20, seed=5)))
    api.seal_video("reopen", "closed")
    scenes_before = [n.id for n in level_nodes(api, "reopen", "scene")]

    # The sealed video is not the first of the batch: the whole batch is still refused.
    batch = rows("open", unit_vectors(2, seed=6)) + rows("closed", unit_vectors(3, seed=7), start_index=20)
    error = rpc_error(lambda: api.append_segments("reopen", batch))
    assert error.code.name == "FAILED_PRECONDITION"
    assert "segments[2].video_id" in error.fields, error.fields
    only_sealed = rows("closed", unit_vectors(3, seed=7), start_index=20)
    error = rpc_error(lambda: api.append_segments("reopen", only_sealed))
    assert error.code.name == "FAILED_PRECONDITION"
    assert "segments[0].video_id" in error.fields, error.fields
    assert api.get_video("reopen", "closed").segment_count == 20
    assert api.get_video("reopen", "open").segment_count == 0
    assert node_counts(api, "reopen")[common_pb2.LEVEL_SEGMENT][0] == 20

    reopened = api.reopen_video("reopen", "closed")
    assert reopened.state == video_pb2.VIDEO_STATE_OPEN
    assert api.get_video("reopen", "closed").state == video_pb2.VIDEO_STATE_OPEN
    assert [n.id for n in level_nodes(api, "reopen", "scene")] == scenes_before  # the tree stays
    answer = api.append_segments("reopen", only_sealed)
    assert list(answer.segment_ids) == ["closed@40000", "closed@42000", "closed@44000"]
    assert api.get_video("reopen", "closed").segment_count == 23

    api.seal_video("reopen", "closed")  # sealing again builds over the new segments
    [root] = level_nodes(api, "reopen", "video")
    assert (root.start_ms, root.end_ms) == (0, 46_000)


def test_sealing_a_video_without_segments_fails(api: StrataClient) -> None:
    api.create_collection("empty", dimension=DIM)
    api.create_video("empty", "bare")
    error = rpc_error(lambda: api.seal_video("empty", "bare"))
    assert error.code.name == "FAILED_PRECONDITION"
    assert "video_id" in error.fields
    assert api.get_video("empty", "bare").state == video_pb2.VIDEO_STATE_OPEN


# -- BuildHierarchy and operations ---------------------------------------------------------


def test_building_a_collection_reports_progress_per_video(api: StrataClient) -> None:
    api.create_collection("many", dimension=DIM)
    for i, video_id in enumerate(("a", "b", "c")):
        api.create_video("many", video_id)
        if video_id != "b":  # "b" has no segments: nothing to build
            api.append_segments("many", rows(video_id, unit_vectors(25, seed=10 + i)))
    started = api.build_hierarchy("many")
    assert started.name.startswith("operations/")
    assert started.total == 2
    final = api.wait_operation(started.name, poll=0.02)
    assert final.done and final.error == ""
    assert final.progress == final.total == 2
    assert api.get_operation(started.name) == final
    assert [n.video_id for n in level_nodes(api, "many", "video")] == ["a", "c"]


def test_config_is_stored_and_a_higher_penalty_gives_no_more_scenes(api: StrataClient, soccer: SoccerDataset) -> None:
    load_match(api, "penalty", soccer)
    defaults = api.get_collection("penalty").hierarchy
    scenes = {}
    for penalty in (1.0, 8.0):
        final = build(api, "penalty", scene_penalty=penalty)
        assert final.done and final.error == "" and final.progress == final.total == 1
        stored = api.get_collection("penalty").hierarchy
        assert stored.scene_penalty == penalty
        # Fields left unset keep their value.
        assert (stored.scene_min_ms, stored.scene_max_ms, stored.aggregator) == (
            defaults.scene_min_ms,
            defaults.scene_max_ms,
            defaults.aggregator,
        )
        scenes[penalty] = node_counts(api, "penalty")[common_pb2.LEVEL_SCENE][0]
    assert scenes[8.0] <= scenes[1.0]
    assert scenes[8.0] < scenes[1.0]  # on this match the penalty really matters
    # A build without config keeps the stored parameters.
    build(api, "penalty")
    assert api.get_collection("penalty").hierarchy.scene_penalty == 8.0
    assert node_counts(api, "penalty")[common_pb2.LEVEL_SCENE][0] == scenes[8.0]


@pytest.mark.parametrize(
    ("name", "value"),
    [("scene_min_ms", -1), ("scene_penalty", -2.0), ("half_count", 0), ("aggregator", "max")],
)
def test_bad_config_is_invalid_argument(api: StrataClient, name: str, value: object) -> None:
    collection = f"bad-{name}"
    api.create_collection(collection, dimension=DIM)
    api.create_video(collection, "v")
    api.append_segments(collection, rows("v", unit_vectors(10)))
    before = api.get_collection(collection).hierarchy
    error = rpc_error(lambda: api.build_hierarchy(collection, **{name: value}))
    assert error.code.name == "INVALID_ARGUMENT"
    assert f"config.{name}" in error.fields, error.fields
    assert api.get_collection(collection).hierarchy == before
    assert node_counts(api, collection)[common_pb2.LEVEL_SCENE] == (0, 0)  # nothing was built


def test_unknown_collection_or_video_is_not_found(api: StrataClient) -> None:
    api.create_collection("ghosts", dimension=DIM)
    api.create_video("ghosts", "v")
    api.append_segments("ghosts", rows("v", unit_vectors(10)))
    error = rpc_error(lambda: api.build_hierarchy("ghosts", ["v", "ghost"]))
    assert error.code.name == "NOT_FOUND"
    assert "ghost" in error.message
    error = rpc_error(lambda: api.build_hierarchy("no-such-collection"))
    assert error.code.name == "NOT_FOUND" and "collection" in error.fields


def test_a_named_video_without_segments_is_refused_before_anything_is_built(api: StrataClient) -> None:
    api.create_collection("empties", dimension=DIM)
    for video_id in ("full", "empty"):
        api.create_video("empties", video_id)
    api.append_segments("empties", rows("full", unit_vectors(10)))
    error = rpc_error(lambda: api.build_hierarchy("empties", ["full", "empty"]))
    assert error.code.name == "FAILED_PRECONDITION"
    assert "video_ids[1]" in error.fields and "no segments" in error.message
    assert node_counts(api, "empties")[common_pb2.LEVEL_SCENE] == (0, 0)  # "full" was not built either


def test_a_video_named_twice_is_built_once(api: StrataClient) -> None:
    api.create_collection("twice", dimension=DIM)
    api.create_video("twice", "v")
    api.append_segments("twice", rows("v", unit_vectors(10)))
    final = build(api, "twice", ("v", "v", "v"))
    assert final.error == "" and final.progress == final.total == 1


@pytest.mark.parametrize(("name", "value"), [("scene_penalty", 1e308), ("drive_penalty", 1e7)])
def test_a_penalty_past_the_ceiling_is_refused(api: StrataClient, name: str, value: float) -> None:
    api.create_collection(f"ceiling-{name}", dimension=DIM)
    error = rpc_error(lambda: api.build_hierarchy(f"ceiling-{name}", **{name: value}))
    assert error.code.name == "INVALID_ARGUMENT" and f"config.{name}" in error.fields
    assert "at most 1e+06" in error.message


def test_a_longest_scene_below_the_shortest_names_the_field_given(api: StrataClient) -> None:
    api.create_collection("shortest", dimension=DIM)
    error = rpc_error(lambda: api.build_hierarchy("shortest", scene_max_ms=1))
    assert error.code.name == "INVALID_ARGUMENT" and "config.scene_max_ms" in error.fields


def test_refused_build_leaves_the_config_unchanged(api: StrataClient) -> None:
    api.create_collection("atomic", dimension=DIM)
    api.create_video("atomic", "v")
    api.append_segments("atomic", rows("v", unit_vectors(10)))
    before = api.get_collection("atomic").hierarchy
    error = rpc_error(lambda: api.build_hierarchy("atomic", ["ghost"], scene_penalty=9.0))
    assert error.code.name == "NOT_FOUND"
    assert api.get_collection("atomic").hierarchy == before


def test_unknown_operation_is_not_found(api: StrataClient) -> None:
    error = rpc_error(lambda: api.get_operation("operations/0123456789abcdef"))
    assert error.code.name == "NOT_FOUND"
    assert "name" in error.fields


def test_empty_operation_name_is_invalid_argument(api: StrataClient) -> None:
    error = rpc_error(lambda: api.get_operation(""))
    assert error.code.name == "INVALID_ARGUMENT"
    assert "name" in error.fields


def test_rebuild_is_idempotent(api: StrataClient, soccer: SoccerDataset) -> None:
    video_id = load_match(api, "again", soccer)
    api.seal_video("again", video_id)
    ids_before = {name: [n.id for n in level_nodes(api, "again", name)] for name in LEVELS}
    spans_before = {name: [(n.start_ms, n.end_ms) for n in level_nodes(api, "again", name)] for name in LEVELS}
    counts_before = node_counts(api, "again")
    for _ in range(2):
        final = build(api, "again", [video_id])
        assert final.done and final.error == "" and final.progress == final.total == 1
    assert {name: [n.id for n in level_nodes(api, "again", name)] for name in LEVELS} == ids_before
    spans_after = {name: [(n.start_ms, n.end_ms) for n in level_nodes(api, "again", name)] for name in LEVELS}
    assert spans_after == spans_before
    counts_after = node_counts(api, "again")
    assert counts_after == counts_before
    assert all(stored == indexed for stored, indexed in counts_after.values()), counts_after
    assert api.get_video("again", video_id).state == video_pb2.VIDEO_STATE_SEALED  # a build keeps the seal


# -- the tree on a generated match ---------------------------------------------------------


def test_halves_and_drives_match_the_planted_truth(
    api: StrataClient, sealed: tuple[str, str], soccer: SoccerDataset
) -> None:
    collection, video_id = sealed
    truth = soccer.truth["matches"][0]
    halves = list(api.list_children(collection, f"{video_id}/video/0"))
    assert [[h.start_ms, h.end_ms] for h in halves] == truth["halves"]
    assert [h.id for h in halves] == [f"{video_id}/half/{i}" for i in range(len(truth["halves"]))]
    drives = level_nodes(api, collection, "drive")
    assert [(d.start_ms, d.end_ms) for d in drives] == [(d["start_ms"], d["end_ms"]) for d in truth["drives"]]
    # Each half holds exactly the drives of its period.
    for period, half in enumerate(halves, start=1):
        spans = [(d.start_ms, d.end_ms) for d in api.list_children(collection, half.id, page_size=1000)]
        planted = [(d["start_ms"], d["end_ms"]) for d in truth["drives"] if d["period"] == period]
        assert spans == planted


def test_tree_survives_a_restart(server: StrataServer, soccer: SoccerDataset) -> None:
    data_dir = server.db.data_dir
    with StrataClient(server.address, timeout=60) as c:
        video_id = load_match(c, "kept", soccer)
        c.seal_video("kept", video_id)
        root = f"{video_id}/video/0"
        halves = [(n.id, n.start_ms, n.end_ms) for n in c.list_children("kept", root)]
        drives = [n.id for n in c.list_children("kept", f"{video_id}/half/1", page_size=1000)]
        counts = node_counts(c, "kept")
    server.stop(0)
    again = start_server(Path(data_dir))
    try:
        with StrataClient(again.address, timeout=60) as c:
            assert [(n.id, n.start_ms, n.end_ms) for n in c.list_children("kept", root)] == halves
            assert [n.id for n in c.list_children("kept", f"{video_id}/half/1", page_size=1000)] == drives
            assert node_counts(c, "kept") == counts
            assert c.get_video("kept", video_id).state == video_pb2.VIDEO_STATE_SEALED
            assert [n.id for n in level_nodes(c, "kept", "video")] == [root]
    finally:
        again.stop(0)


def test_collection_without_drive_attribute_builds_every_level(api: StrataClient, soccer: SoccerDataset) -> None:
    video_id = load_match(api, "by-meaning", soccer, drive_attribute="")
    assert api.get_collection("by-meaning").hierarchy.drive_attribute == ""
    api.seal_video("by-meaning", video_id)
    found = {name: level_nodes(api, "by-meaning", name) for name in LEVELS}
    assert all(found[name] for name in LEVELS), {name: len(nodes) for name, nodes in found.items()}
    assert len(found["video"]) == 1 and len(found["half"]) == 2  # halves still come from "period"
    assert len(found["scene"]) >= len(found["drive"]) >= len(found["half"])
    # Drives still tile each half.
    for half in found["half"]:
        drives = list(api.list_children("by-meaning", half.id, page_size=1000))
        assert drives and drives[0].start_ms == half.start_ms and drives[-1].end_ms == half.end_ms
        assert all(a.end_ms == b.start_ms for a, b in zip(drives, drives[1:], strict=False))
        assert sum(d.child_count for d in drives) == sum(
            1 for s in found["scene"] if s.start_ms >= half.start_ms and s.end_ms <= half.end_ms
        )
