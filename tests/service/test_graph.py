"""Walking a sealed match's tree through GraphService, against a real server."""

from __future__ import annotations

import bisect
import threading

import numpy as np
import pytest

from hierarchy import graph as graph_module
from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import common_pb2, graph_pb2
from tests.service.conftest import DIM, load_match, rows, unit_vectors
from tools.soccer import SoccerDataset

GAMES = "games"
SIDE = "side"  # a second, small video: FindSimilar searches across the library
PROBE = np.ones(DIM, np.float32)
SEGMENT, SCENE, DRIVE, HALF, VIDEO = (
    common_pb2.LEVEL_SEGMENT,
    common_pb2.LEVEL_SCENE,
    common_pb2.LEVEL_DRIVE,
    common_pb2.LEVEL_HALF,
    common_pb2.LEVEL_VIDEO,
)


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def match(api: StrataClient, soccer: SoccerDataset) -> str:
    """Collection ``games``: the sealed match plus a small sealed side video. Read-only."""
    video_id = load_match(api, GAMES, soccer)
    api.seal_video(GAMES, video_id)
    api.create_video(GAMES, SIDE)
    api.append_segments(GAMES, rows(SIDE, unit_vectors(40, seed=21)))
    api.seal_video(GAMES, SIDE)
    return video_id


@pytest.fixture(scope="module")
def starts(soccer: SoccerDataset) -> list[int]:
    """Segment start times of the match, in order."""
    return [s["start_ms"] for s in soccer.segments]


def segments_in(starts: list[int], node: common_pb2.Node) -> int:
    """How many of the match's segments lie in the node's span."""
    return bisect.bisect_left(starts, node.end_ms) - bisect.bisect_left(starts, node.start_ms)


def ordered(client: StrataClient, collection: str, video_id: str, level: str) -> list[common_pb2.Node]:
    """Every node of a level of one video, in time order."""
    hits = client.search(collection, vector=PROBE, level=level, top_k=1000, video_ids=[video_id]).hits
    return sorted((h.node for h in hits), key=lambda n: n.start_ms)


def half_of(halves: list[common_pb2.Node], node: common_pb2.Node) -> str:
    return next(h.id for h in halves if h.start_ms <= node.start_ms and node.end_ms <= h.end_ms)


def rpc_error(call) -> StrataRpcError:
    with pytest.raises(StrataRpcError) as info:
        call()
    return info.value


def ids(nodes) -> list[str]:
    return [n.id for n in nodes]


# -- GetNode ---------------------------------------------------------------------------------


def test_get_node_label_counts_sum_to_its_segments(api: StrataClient, match: str, starts: list[int]) -> None:
    picks = [f"{match}/video/0", f"{match}/half/0", f"{match}/half/1"]
    picks += [f"{match}/drive/{i}" for i in (0, 1, 40, 132)]
    scenes = [n.node.id for n in api.subtree(GAMES, f"{match}/video/0", 3) if n.node.level == SCENE]
    picks += [scenes[0], scenes[7], scenes[len(scenes) // 2], scenes[-1]]
    for node_id in picks:
        node = api.get_node(GAMES, node_id)
        assert node.id == node_id and node.video_id == match
        assert node.level == {"video": VIDEO, "half": HALF, "drive": DRIVE, "scene": SCENE}[node_id.split("/")[1]]
        count = segments_in(starts, node)
        assert count > 0
        assert sum(node.label_counts.values()) == count, node_id  # one label per generated segment
        assert sorted(node.labels) == sorted(node.label_counts)
        if node.level == SCENE:
            assert node.child_count == count
    segment = api.get_node(GAMES, f"{match}@{starts[10]}")
    assert segment.level == SEGMENT and segment.start_ms == starts[10]
    assert segment.parent_id.startswith(f"{match}/scene/") and segment.child_count == 0


# -- ListChildren ----------------------------------------------------------------------------


def test_root_children_are_the_halves_in_time_order(api: StrataClient, match: str, soccer: SoccerDataset) -> None:
    root = f"{match}/video/0"
    halves = list(api.list_children(GAMES, root))
    assert ids(halves) == [f"{match}/half/0", f"{match}/half/1"]
    assert {h.level for h in halves} == {HALF} and {h.parent_id for h in halves} == {root}
    assert [[h.start_ms, h.end_ms] for h in halves] == soccer.truth["matches"][0]["halves"]
    assert api.get_node(GAMES, root).child_count == 2


def test_children_tile_their_parent(api: StrataClient, match: str, soccer: SoccerDataset) -> None:
    """Every parent's children are in time order, one level down, and cover its span exactly."""
    root = api.get_node(GAMES, f"{match}/video/0")
    queue, segment_ids, parents = [root], [], 0
    while queue:
        parent = queue.pop()
        kids = list(api.list_children(GAMES, parent.id, page_size=1000))
        parents += 1
        assert kids, parent.id
        assert len(kids) == parent.child_count, parent.id
        assert {k.level for k in kids} == {parent.level - 1}, parent.id
        assert {k.parent_id for k in kids} == {parent.id}
        assert kids[0].start_ms == parent.start_ms and kids[-1].end_ms == parent.end_ms, parent.id
        for a, b in zip(kids, kids[1:], strict=False):
            if parent.level == VIDEO:
                assert a.end_ms <= b.start_ms  # the half-time break holds no segments
            else:
                assert a.end_ms == b.start_ms, (parent.id, a.id, b.id)  # contiguous, no overlap
        if parent.level == SCENE:
            segment_ids += ids(kids)
        else:
            queue += kids
    expected = [f"{match}@{s['start_ms']}" for s in soccer.segments]
    assert sorted(segment_ids) == sorted(expected) and len(segment_ids) == len(set(segment_ids))
    built = api.subtree(GAMES, f"{match}/video/0", 3)  # video, halves, drives, scenes
    assert parents == len(built)  # the walk really visited the whole tree


@pytest.mark.parametrize("node", ["half/0", "drive/3", "scene/2"])
def test_paging_children_gives_the_same_list(api: StrataClient, match: str, node: str) -> None:
    node_id = f"{match}/{node}"
    whole = ids(api.list_children(GAMES, node_id, page_size=1000))
    paged = ids(api.list_children(GAMES, node_id, page_size=3))
    assert paged == whole and len(paged) == len(set(paged))
    assert len(whole) == api.get_node(GAMES, node_id).child_count
    # Raw pages: at most 3 children each, a token on every page but the last.
    pages, token = [], ""
    while True:
        request = graph_pb2.ListChildrenRequest(collection=GAMES, node_id=node_id, page_size=3, page_token=token)
        reply = api.graph.ListChildren(request, timeout=30)
        pages.append(ids(reply.children))
        token = reply.next_page_token
        if not token:
            break
    assert all(1 <= len(p) <= 3 for p in pages)
    assert [c for p in pages for c in p] == whole
    assert len(pages) == -(-len(whole) // 3)


def test_a_segment_has_no_children(api: StrataClient, match: str, starts: list[int]) -> None:
    assert list(api.list_children(GAMES, f"{match}@{starts[0]}")) == []


# -- GetAncestors ----------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1234, -1])
def test_ancestors_of_a_segment_climb_to_the_root(api: StrataClient, match: str, starts: list[int], index: int) -> None:
    segment = api.get_node(GAMES, f"{match}@{starts[index]}")
    chain = api.ancestors(GAMES, segment.id)
    assert [n.level for n in chain] == [SCENE, DRIVE, HALF, VIDEO]
    assert chain[-1].id == f"{match}/video/0" and chain[-1].parent_id == ""
    below = segment
    for node in chain:
        assert below.parent_id == node.id
        assert node.start_ms <= below.start_ms and below.end_ms <= node.end_ms, (node.id, below.id)
        below = node
    assert api.ancestors(GAMES, chain[-1].id) == []


# -- GetNeighbors ----------------------------------------------------------------------------


def test_scene_neighbours_are_the_adjacent_scenes(api: StrataClient, match: str) -> None:
    scenes = ordered(api, GAMES, match, "scene")
    halves = ordered(api, GAMES, match, "half")
    assert len(scenes) > 100
    first = api.neighbors(GAMES, scenes[0].id)
    assert list(first.before) == [] and ids(first.after) == [scenes[1].id]
    last = api.neighbors(GAMES, scenes[-1].id)
    assert ids(last.before) == [scenes[-2].id] and list(last.after) == []
    for i in range(1, len(scenes) - 1, 7):
        node = scenes[i]
        around = api.neighbors(GAMES, node.id)
        assert ids(around.before) == [scenes[i - 1].id] and ids(around.after) == [scenes[i + 1].id]
        [before], [after] = around.before, around.after
        assert {before.level, after.level} == {SCENE} and {before.video_id, after.video_id} == {match}
        assert before.end_ms <= node.start_ms and node.end_ms <= after.start_ms
        if half_of(halves, before) == half_of(halves, node):
            assert before.end_ms == node.start_ms
        if half_of(halves, after) == half_of(halves, node):
            assert node.end_ms == after.start_ms
    # Wider windows, clipped at the ends, in time order.
    wide = api.neighbors(GAMES, scenes[2].id, before=5, after=3)
    assert ids(wide.before) == ids(scenes[:2]) and ids(wide.after) == ids(scenes[3:6])
    # 0 means 1.
    zero = api.neighbors(GAMES, scenes[10].id, before=0, after=0)
    assert ids(zero.before) == [scenes[9].id] and ids(zero.after) == [scenes[11].id]


def test_neighbours_cross_the_half_time_break(api: StrataClient, match: str) -> None:
    """Neighbours run along the whole video at a level, not only inside one parent."""
    drives = ordered(api, GAMES, match, "drive")
    second_half = api.get_node(GAMES, f"{match}/half/1")
    k = next(i for i, d in enumerate(drives) if d.start_ms == second_half.start_ms)
    around = api.neighbors(GAMES, drives[k].id)
    assert ids(around.before) == [drives[k - 1].id] and ids(around.after) == [drives[k + 1].id]
    assert around.before[0].end_ms < drives[k].start_ms


# -- GetSubtree ------------------------------------------------------------------------------


def test_subtree_of_a_half_stops_at_the_requested_depth(api: StrataClient, match: str) -> None:
    half = f"{match}/half/0"
    walk = api.subtree(GAMES, half, depth=2)
    assert (walk[0].node.id, walk[0].depth) == (half, 0)
    assert max(n.depth for n in walk) == 2
    assert {n.node.level for n in walk if n.depth == 1} == {DRIVE}
    assert {n.node.level for n in walk if n.depth == 2} == {SCENE}
    # Depth first in time order: each drive followed by its scenes.
    expected = [(half, 0)]
    for drive in api.list_children(GAMES, half, page_size=1000):
        expected.append((drive.id, 1))
        expected += [(s.id, 2) for s in api.list_children(GAMES, drive.id, page_size=1000)]
    assert [(n.node.id, n.depth) for n in walk] == expected
    # depth 0 means 1.
    shallow = api.subtree(GAMES, half, depth=0)
    assert [(n.node.id, n.depth) for n in shallow] == [e for e in expected if e[1] <= 1]


# -- FindSimilar -----------------------------------------------------------------------------


@pytest.mark.parametrize("node", ["scene/12", "drive/7", "half/0", "video/0"])
def test_find_similar_stays_at_the_level_and_skips_the_node(api: StrataClient, match: str, node: str) -> None:
    node_id = f"{match}/{node}"
    level = api.get_node(GAMES, node_id).level
    found = api.find_similar(GAMES, node_id, top_k=20)
    assert found
    assert {s.node.level for s in found} == {level}
    assert node_id not in ids(s.node for s in found)
    assert len(set(ids(s.node for s in found))) == len(found)
    sims = [s.similarity for s in found]
    assert sims == sorted(sims, reverse=True)
    if level in (HALF, VIDEO):  # the library has 3 halves and 2 videos: the side video is found
        assert SIDE in {s.node.video_id for s in found}
        assert len(found) == {HALF: 2, VIDEO: 1}[level]
    else:
        assert len(found) == 20


def test_find_similar_of_a_segment(api: StrataClient, match: str, starts: list[int]) -> None:
    node_id = f"{match}@{starts[100]}"
    found = api.find_similar(GAMES, node_id, top_k=5)
    assert len(found) == 5 and {s.node.level for s in found} == {SEGMENT}
    assert node_id not in ids(s.node for s in found)
    assert [s.similarity for s in found] == sorted((s.similarity for s in found), reverse=True)


# -- errors ----------------------------------------------------------------------------------

CALLS = {
    "get_node": lambda c, coll, n: c.get_node(coll, n),
    "list_children": lambda c, coll, n: list(c.list_children(coll, n)),
    "ancestors": lambda c, coll, n: c.ancestors(coll, n),
    "neighbors": lambda c, coll, n: c.neighbors(coll, n),
    "subtree": lambda c, coll, n: c.subtree(coll, n),
    "find_similar": lambda c, coll, n: c.find_similar(coll, n),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_unknown_node_is_not_found(api: StrataClient, match: str, call: str) -> None:
    error = rpc_error(lambda: CALLS[call](api, GAMES, f"{match}/scene/99999"))
    assert error.code.name == "NOT_FOUND"
    assert "node_id" in error.fields, error.fields


@pytest.mark.parametrize("call", list(CALLS))
def test_unknown_collection_is_not_found(api: StrataClient, match: str, call: str) -> None:
    error = rpc_error(lambda: CALLS[call](api, "no-such-collection", f"{match}/video/0"))
    assert error.code.name == "NOT_FOUND"
    assert "collection" in error.fields, error.fields


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c, n: c.subtree(GAMES, n, depth=-1), "depth"),
        (lambda c, n: c.neighbors(GAMES, n, before=-1), "before"),
        (lambda c, n: c.neighbors(GAMES, n, after=-2), "after"),
        (lambda c, n: list(c.list_children(GAMES, n, page_size=-1)), "page_size"),
        (lambda c, n: c.find_similar(GAMES, n, top_k=-1), "top_k"),
        (lambda c, n: c.find_similar(GAMES, n, top_k=1001), "top_k"),
        (lambda c, n: c.get_node(GAMES, ""), "node_id"),
    ],
    ids=["depth", "before", "after", "page_size", "top_k-negative", "top_k-too-big", "empty-id"],
)
def test_bad_arguments_are_invalid(api: StrataClient, match: str, call, field: str) -> None:
    error = rpc_error(lambda: call(api, f"{match}/half/0"))
    assert error.code.name == "INVALID_ARGUMENT"
    assert field in error.fields, error.fields


# -- after a rebuild -------------------------------------------------------------------------


def test_graph_answers_from_the_new_tree_after_a_rebuild(api: StrataClient, soccer: SoccerDataset) -> None:
    video_id = load_match(api, "rebuilt", soccer)
    api.seal_video("rebuilt", video_id)
    root, drive, scene0 = f"{video_id}/video/0", f"{video_id}/drive/0", f"{video_id}/scene/0"
    segment = f"{video_id}@{soccer.segments[30]['start_ms']}"

    def snapshot() -> dict:
        return {
            "scenes": [n.node.id for n in api.subtree("rebuilt", root, depth=3) if n.node.level == SCENE],
            "drive_children": [(n.id, n.end_ms) for n in api.list_children("rebuilt", drive, page_size=1000)],
            "after_scene0": [(n.id, n.start_ms) for n in api.neighbors("rebuilt", scene0, after=3).after],
            "parent": [(n.id, n.end_ms) for n in api.ancestors("rebuilt", segment)][0],
        }

    old = snapshot()  # caches the video's graph
    op = api.build_hierarchy("rebuilt", scene_penalty=1.0)  # more, shorter scenes (still < 1000)
    final = api.wait_operation(op.name, poll=0.02)
    assert final.done and final.error == ""
    new = snapshot()
    counts = {s.level: s.node_count for s in api.stats("rebuilt").collections[0].levels}
    assert len(new["scenes"]) == counts[SCENE] != len(old["scenes"])
    truth = ordered(api, "rebuilt", video_id, "scene")
    assert new["scenes"] == ids(truth)
    in_drive = [(n.id, n.end_ms) for n in truth if n.parent_id == drive]
    assert new["drive_children"] == in_drive != old["drive_children"]
    assert new["after_scene0"] == [(n.id, n.start_ms) for n in truth[1:4]]
    assert new["after_scene0"] != old["after_scene0"]
    parent = api.get_node("rebuilt", api.get_node("rebuilt", segment).parent_id)
    assert new["parent"] == (parent.id, parent.end_ms)


def test_a_graph_loaded_during_a_rebuild_is_not_kept(
    api: StrataClient, soccer: SoccerDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    video_id = load_match(api, "racy", soccer)
    api.seal_video("racy", video_id)
    drive = f"{video_id}/drive/0"
    loaded, proceed = threading.Event(), threading.Event()
    real_load = graph_module.load

    def gated_load(*args: object):
        graph = real_load(*args)
        if not loaded.is_set():  # only the first load: hold it until the rebuild is done
            loaded.set()
            proceed.wait(10)
        return graph

    monkeypatch.setattr(graph_module, "load", gated_load)
    reader = threading.Thread(target=lambda: list(api.list_children("racy", drive, page_size=1000)))
    reader.start()
    try:
        assert loaded.wait(30), "the graph query never loaded the graph"
        final = api.wait_operation(api.build_hierarchy("racy", scene_penalty=1.0).name, poll=0.02)
        assert final.done and final.error == ""
    finally:
        proceed.set()
        reader.join(30)
    expected = [n.id for n in ordered(api, "racy", video_id, "scene") if n.parent_id == drive]
    assert ids(api.list_children("racy", drive, page_size=1000)) == expected
