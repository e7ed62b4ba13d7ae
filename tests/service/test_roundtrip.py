"""Ingest -> search through the gRPC client against a real server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import common_pb2
from service.server import StrataServer
from tests.service.conftest import DIM, rows, start_server, unit_vectors


def test_each_segment_finds_itself_first(client: StrataClient, loaded: np.ndarray) -> None:
    for i in (0, 17, 49):
        reply = client.search("c", vector=loaded[i], top_k=3)
        assert reply.hits[0].node.id == f"v1@{i * 2000}"
        assert reply.hits[0].similarity == pytest.approx(1.0, abs=1e-2)
        assert [h.rank for h in reply.hits] == [1, 2, 3]
        assert reply.route.levels == [1]


def test_hits_carry_metadata(client: StrataClient, loaded: np.ndarray) -> None:
    node = client.search("c", vector=loaded[3], top_k=1).hits[0].node
    assert (node.video_id, node.start_ms, node.end_ms) == ("v1", 6000, 8000)
    assert node.text == "segment 3" and list(node.labels) == ["pass"]
    assert dict(node.attributes) == {"team": "home"}


def test_a_segment_s_shot_cut_reads_back_as_written(client: StrataClient, loaded: np.ndarray) -> None:
    # Stored and used by the scene builder, but no node said so.
    cut = rows("v1", loaded[:1], start_index=60)[0] | {"shot_cut": True}
    client.append_segments("c", [cut])
    hit = client.search("c", vector=loaded[0], top_k=2, video_ids="v1", time_range=(120_000, 122_000)).hits[0]
    assert hit.node.id == "v1@120000" and hit.node.shot_cut  # as a search reads it
    assert client.get_node("c", "v1@120000").shot_cut and not client.get_node("c", "v1@0").shot_cut  # by id
    client.seal_video("c", "v1")
    scene = client.search("c", vector=loaded[0], level="scene", top_k=1).hits[0].node
    assert not scene.shot_cut  # a parent's is false


def test_pages_do_not_overlap(client: StrataClient, loaded: np.ndarray) -> None:
    first = client.search("c", vector=loaded[0], top_k=20)
    second = client.search("c", vector=loaded[0], top_k=20, page_token=first.next_page_token)
    third = client.search("c", vector=loaded[0], top_k=20, page_token=second.next_page_token)
    ids = [h.node.id for page in (first, second, third) for h in page.hits]
    assert len(ids) == 50 == len(set(ids))
    assert [h.rank for h in third.hits] == list(range(41, 51))
    assert third.next_page_token == ""


def test_filters_by_video_and_time(client: StrataClient, loaded: np.ndarray) -> None:
    client.create_video("c", "v2")
    client.append_segments("c", rows("v2", unit_vectors(10, seed=1)))
    in_v2 = client.search("c", vector=loaded[0], top_k=50, video_ids=["v2"])
    assert {h.node.video_id for h in in_v2.hits} == {"v2"} and len(in_v2.hits) == 10
    window = client.search("c", vector=loaded[0], top_k=50, video_ids=["v1"], time_range=(10_000, 20_000))
    assert sorted(h.node.start_ms for h in window.hits) == list(range(10_000, 20_000, 2000))


def test_stream_append_counts_batches(client: StrataClient) -> None:
    client.create_collection("s", dimension=DIM)
    client.create_video("s", "v")
    vectors = unit_vectors(30, seed=3)
    batches = [(f"b{i}", rows("v", vectors[i * 10 : (i + 1) * 10], i * 10)) for i in range(3)]
    summary = client.stream_segments("s", batches)
    assert (summary.batch_count, summary.segment_count) == (3, 30)
    assert client.get_video("s", "v").segment_count == 30


def test_text_search_with_builtin_encoder(client: StrataClient) -> None:
    made = client.create_collection("t", text_encoder="default")
    assert made.space.dimension == 384
    client.create_video("t", "m")
    texts = ["the goalkeeper kicks the ball out", "a corner kick is taken from the right", "players shake hands"]
    client.append_segments(
        "t",
        [{"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": t} for i, t in enumerate(texts)],
    )
    hits = client.search("t", "corner kick", top_k=3).hits
    assert hits[0].node.text == texts[1]


def test_a_text_batch_whose_call_timed_out_is_not_stored_after_it(client: StrataClient) -> None:
    """A batch of captions takes the server a while to embed; a caller whose deadline
    passes is told DEADLINE_EXCEEDED and the batch is dropped, not stored later behind
    its back: sending it again (with time) stores it, no replay of a first copy."""
    client.create_collection("t", text_encoder="default")
    client.create_video("t", "m")
    batch = [
        {"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": f"caption {i}, a pass"}
        for i in range(600)
    ]
    with pytest.raises(StrataRpcError) as caught:
        client.with_timeout(0.2).append_segments("t", batch, request_id="captions")
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    again = client.with_timeout(60).append_segments("t", batch, request_id="captions")
    assert not again.replayed and len(again.segment_ids) == 600
    assert client.get_video("t", "m").segment_count == 600


def test_a_retried_batch_slower_than_its_deadline_is_given_more_time(client: StrataClient) -> None:
    """The server drops a batch unstored at its deadline, so a retry with the same
    deadline would fail alike: each retry after DEADLINE_EXCEEDED has twice the time."""
    client.create_collection("t", text_encoder="default")
    client.create_video("t", "m")
    batch = [
        {"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": f"caption {i}, a long pass forward"}
        for i in range(150)
    ]
    reply = client.with_timeout(0.05).append_segments("t", batch, retries=5)
    assert len(reply.segment_ids) == 150 and client.get_video("t", "m").segment_count == 150


def test_every_event_over_grpc_is_listed_in_time_order(client: StrataClient) -> None:
    """ "every goal" answers each goal-labelled segment in time order, and the response
    says so (route.in_time_order, parse.every) besides the part a query names."""
    client.create_collection("t", text_encoder="default")
    client.create_video("t", "m")
    texts = ["a header is saved", "GOAL! a shot into the top corner", "a pass in midfield", "GOAL! a tap-in"] * 3
    labels = ["header", "goal", "pass", "goal"] * 3
    client.append_segments(
        "t",
        [
            {"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": t, "labels": [lb]}
            for i, (t, lb) in enumerate(zip(texts, labels, strict=True))
        ],
    )
    client.seal_video("t", "m")
    reply = client.search("t", "every goal", top_k=10)
    assert [h.node.start_ms for h in reply.hits] == [i * 2000 for i, lb in enumerate(labels) if lb == "goal"]
    assert reply.route.in_time_order and reply.route.parse.every
    ranked = client.search("t", "a goal in the second half", top_k=3)
    assert not ranked.route.in_time_order
    assert (ranked.route.parse.within_position, ranked.route.parse.every) == (2, False)


def test_idempotent_retry_writes_nothing_twice(client: StrataClient, loaded: np.ndarray) -> None:
    batch = rows("v1", unit_vectors(5, seed=9), start_index=100)
    first = client.append_segments("c", batch, request_id="retry-me")
    again = client.append_segments("c", batch, request_id="retry-me")
    assert again.replayed and list(again.segment_ids) == list(first.segment_ids)
    assert again.commit_sequence == first.commit_sequence
    assert client.get_video("c", "v1").segment_count == 55


def test_a_delete_only_if_empty_deletes_an_empty_video_and_keeps_one_holding_segments(
    client: StrataClient, loaded: np.ndarray
) -> None:
    """What a client undoing its own create relies on: its empty video goes, and a video
    another client has stored a segment in stays, with the segment."""
    client.create_video("c", "fresh")
    client.delete_video("c", "fresh", only_if_empty=True)
    assert [v.id for v in client.list_videos("c")] == ["v1"]
    with pytest.raises(StrataRpcError) as kept:
        client.delete_video("c", "v1", only_if_empty=True)
    assert kept.value.code is grpc.StatusCode.FAILED_PRECONDITION and "video_id" in kept.value.fields
    assert "'v1' holds segments (50), so it was kept" in kept.value.message
    assert client.get_video("c", "v1").segment_count == 50
    client.delete_video("c", "v1")  # without it: the video with its segments, as before
    assert list(client.list_videos("c")) == []


def test_restart_returns_the_same_results(server: StrataServer, loaded: np.ndarray) -> None:
    data_dir = server.db.data_dir
    with StrataClient(server.address) as c:
        before = [(h.node.id, round(h.score, 5)) for h in c.search("c", vector=loaded[7], top_k=10).hits]
    server.stop(0)
    again = start_server(data_dir)
    try:
        with StrataClient(again.address) as c:
            after = [(h.node.id, round(h.score, 5)) for h in c.search("c", vector=loaded[7], top_k=10).hits]
            assert c.health() == "SERVING"
    finally:
        again.stop(0)
    assert after == before


def stats_figures(client: StrataClient) -> tuple[int, dict[str, tuple]]:
    """GetStats less what moves on its own (disk use, vectors waiting for the linker)."""
    reply = client.stats()
    levels = {
        c.name: (
            c.video_count,
            [(lv.level, lv.node_count, lv.indexed_count, lv.indexed_sequence, lv.exact) for lv in c.levels],
        )
        for c in reply.collections
    }
    return reply.commit_sequence, levels


def test_stats_list_every_level_alike_before_and_after_a_restart(server: StrataServer, loaded: np.ndarray) -> None:
    """A level without nodes was listed while its index was in memory (a search or a read
    ahead made it) and left out after a restart, which recovers only the levels holding
    nodes. Every level is listed, zero where empty, either way."""
    data_dir = server.db.data_dir
    with StrataClient(server.address) as c:
        c.create_collection("empty", dimension=DIM)  # nothing ingested
        c.create_collection("emptied", dimension=DIM)  # a tree built, then its video deleted
        c.create_video("emptied", "v")
        c.append_segments("emptied", rows("v", unit_vectors(30, seed=2)))
        c.seal_video("emptied", "v")
        c.delete_video("emptied", "v")
        for name in ("c", "empty", "emptied"):  # "c": segments, no tree
            c.search(name, vector=loaded[0])
        server.db.searcher.settle()  # every read ahead done: the indexes it makes are made
        before = stats_figures(c)
    server.stop(0)
    again = start_server(data_dir)
    try:
        with StrataClient(again.address) as c:
            after = stats_figures(c)
    finally:
        again.stop(0)
    assert after == before
    every = [common_pb2.LEVEL_SEGMENT, common_pb2.LEVEL_SCENE, common_pb2.LEVEL_DRIVE]
    every += [common_pb2.LEVEL_HALF, common_pb2.LEVEL_VIDEO]
    assert {name: [lv[0] for lv in levels] for name, (_, levels) in after[1].items()} == dict.fromkeys(
        ("c", "empty", "emptied"), every
    )
    assert after[1]["c"][1][0][1:3] == (50, 50) and after[1]["c"][1][1][1:4] == (0, 0, 0)
    assert after[1]["emptied"][1] == after[1]["empty"][1] == [(level, 0, 0, 0, True) for level in every]


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip-bytes", "delete-sidecar"])
def test_damaged_index_is_rebuilt(server: StrataServer, loaded: np.ndarray, damage: str) -> None:
    data_dir = server.db.data_dir
    server.stop(0)
    index_file = next((data_dir / "indexes").rglob("segment.usearch"))
    if damage == "delete":
        index_file.unlink()
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:100])
    elif damage == "flip-bytes":
        raw = bytearray(index_file.read_bytes())
        raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)
        index_file.write_bytes(bytes(raw))
    else:
        index_file.with_suffix(".json").unlink()
    again = start_server(data_dir)
    try:
        with StrataClient(again.address) as c:
            for i in (0, 25, 49):
                assert c.search("c", vector=loaded[i], top_k=1).hits[0].node.id == f"v1@{i * 2000}"
            level = c.stats("c").collections[0].levels[0]
            assert level.indexed_count == level.node_count == 50
    finally:
        again.stop(0)


def test_second_server_on_same_directory_fails(server: StrataServer) -> None:
    with pytest.raises(Exception, match="in use"):
        start_server(server.db.data_dir)


def test_unknown_collection_is_not_found(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.search("nope", vector=np.ones(DIM, np.float32))
    assert info.value.code.name == "NOT_FOUND" and "collection" in info.value.fields


def test_filters_by_labels_and_attributes(client: StrataClient) -> None:
    client.create_collection("f", dimension=DIM)
    client.create_video("f", "v")
    vectors = unit_vectors(6, seed=5)
    teams = ["home", "away", "home", "away", "home", "away"]
    batch = [
        {
            "video_id": "v",
            "start_ms": i * 2000,
            "end_ms": i * 2000 + 2000,
            "vector": vectors[i],
            "labels": ["goal" if i % 3 == 0 else "pass"],
            "attributes": {"team": teams[i], "minute": i * 10},
        }
        for i in range(6)
    ]
    client.append_segments("f", batch)
    goals = client.search("f", vector=vectors[1], top_k=10, labels=["goal"])
    assert sorted(h.node.start_ms for h in goals.hits) == [0, 6000]
    home_late = client.search("f", vector=vectors[1], top_k=10, attributes={"team": "home", "minute": (15, None)})
    assert sorted(h.node.start_ms for h in home_late.hits) == [4000, 8000]
    with pytest.raises(StrataRpcError) as info:
        client.search("f", vector=vectors[1], attributes={"bad key!": 1})
    assert info.value.code.name == "INVALID_ARGUMENT" and "filter.attributes[0].key" in info.value.fields
