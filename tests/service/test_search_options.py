"""Search options over gRPC: grouping by video, rerankers, diversity, focus, and pages
that hold still while segments are appended."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import common_pb2
from tests.service.conftest import DIM, rows, unit_vectors

COLL = "opts"


@pytest.fixture
def three_videos(client: StrataClient) -> np.ndarray:
    """Collection ``opts`` with videos a, b and c of 30 segments each; returns all vectors."""
    client.create_collection(COLL, dimension=DIM)
    vectors = unit_vectors(90, seed=4)
    for i, video in enumerate("abc"):
        client.create_video(COLL, video)
        client.append_segments(COLL, rows(video, vectors[i * 30 : (i + 1) * 30]))
    return vectors


def test_group_by_video_returns_groups_not_hits(client: StrataClient, three_videos: np.ndarray) -> None:
    reply = client.search(COLL, vector=three_videos[0], level="segment", top_k=2, group_by_video=True, group_size=2)
    assert len(reply.hits) == 0
    assert [g.video_id for g in reply.groups][0] == "a", "the video of the exact match comes first"
    assert len(reply.groups) == 2 and all(len(g.hits) == 2 for g in reply.groups)
    assert reply.groups[0].hits[0].node.id == "a@0"
    assert reply.groups[0].score == pytest.approx(reply.groups[0].hits[0].score)
    rest = client.search(
        COLL,
        vector=three_videos[0],
        level="segment",
        top_k=2,
        group_by_video=True,
        group_size=2,
        page_token=reply.next_page_token,
    )
    assert len(rest.groups) == 1 and rest.next_page_token == ""
    assert {g.video_id for g in [*reply.groups, *rest.groups]} == {"a", "b", "c"}
    assert [g.rank for g in [*reply.groups, *rest.groups]] == [1, 2, 3]


def test_a_sequence_is_scored_by_the_vectors_the_client_sends_for_its_parts(
    client: StrataClient, three_videos: np.ndarray
) -> None:
    text = "a dog barking then a cat jumping"
    parts = client.parse_query(text).parts
    assert list(parts) == ["dog barking", "a cat jumping"]
    # The client's own model embeds each part; here: moments 10 and 11 of video b.
    reply = client.search(COLL, text=text, vector=three_videos[40], part_vectors=three_videos[40:42], top_k=3)
    assert reply.route.reason.startswith("a sequence: 'dog barking' then")
    assert list(reply.route.parse.parts) == list(parts)
    best = reply.hits[0]
    assert best.node.id in ("b@20000", "b@22000") and (best.focus.start_ms, best.focus.end_ms) == (20000, 24000)
    assert sorted(e.node.id for e in best.evidence) == ["b@20000", "b@22000"]


def test_every_hit_has_a_focus_inside_its_node(client: StrataClient, three_videos: np.ndarray) -> None:
    reply = client.search(COLL, vector=three_videos[5], level="segment", top_k=5)
    for hit in reply.hits:
        assert hit.HasField("focus")
        assert (hit.focus.start_ms, hit.focus.end_ms) == (hit.node.start_ms, hit.node.end_ms)


@pytest.mark.parametrize("reranker", ["joint", "overlap", "none"])
def test_rerankers_chosen_by_name(client: StrataClient, three_videos: np.ndarray, reranker: str) -> None:
    reply = client.search(COLL, vector=three_videos[7], level="segment", top_k=5, rerank=True, reranker=reranker)
    assert reply.hits[0].node.id == "a@14000"


@pytest.mark.parametrize(
    ("options", "field"),
    [({"reranker": "magic"}, "reranker"), ({"diversity": 2.0}, "diversity"), ({"group_size": 500}, "group_size")],
)
def test_bad_search_options_name_the_field(
    client: StrataClient, three_videos: np.ndarray, options: dict, field: str
) -> None:
    with pytest.raises(StrataRpcError) as err:
        client.search(COLL, vector=three_videos[0], level="segment", rerank=True, **options)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.fields


def test_pages_hold_still_while_segments_arrive(client: StrataClient, three_videos: np.ndarray) -> None:
    probe = three_videos[3]
    first = client.search(COLL, vector=probe, level="segment", top_k=10)
    client.create_video(COLL, "late")
    client.append_segments(COLL, rows("late", np.tile(probe, (5, 1))))  # tie with the probe's own segment
    second = client.search(COLL, vector=probe, level="segment", top_k=10, page_token=first.next_page_token)
    ids = [h.node.id for h in [*first.hits, *second.hits]]
    everything = client.search(COLL, vector=probe, level="segment", top_k=100)
    old = [h.node.id for h in everything.hits if not h.node.id.startswith("late")]
    assert ids == old[:20]
    assert [h.rank for h in second.hits] == list(range(11, 21))
    top = [h.node.video_id for h in everything.hits[:6]]
    assert top.count("late") == 5, "a new search sees the new segments"


def test_a_search_by_example_answers_at_its_level_unless_a_level_is_asked(
    client: StrataClient, three_videos: np.ndarray
) -> None:
    for video in "abc":
        client.seal_video(COLL, video)
    like = client.search(COLL, node_id="a@0", top_k=5)  # no granularity: the example's level
    assert like.hits and {h.node.level for h in like.hits} == {common_pb2.LEVEL_SEGMENT}
    assert "a@0" not in {h.node.id for h in like.hits} and "example's level" in like.route.reason
    scenes = client.search(COLL, node_id="a@0", level="scene", top_k=3)  # scenes like this moment
    assert scenes.hits and {h.node.level for h in scenes.hits} == {common_pb2.LEVEL_SCENE}
    assert "requested explicitly" in scenes.route.reason


def test_a_search_by_example_at_auto_or_all_is_routed(client: StrataClient, three_videos: np.ndarray) -> None:
    # An explicit "auto" was sent as no level: the example's level, whatever was asked.
    for video in "abc":
        client.seal_video(COLL, video)
    routed = client.search(COLL, node_id="a@0", level="auto", top_k=5)
    assert "example's level" not in routed.route.reason and len(routed.route.confidences) > 1
    mixed = client.search(COLL, node_id="a@0", level="all", top_k=5)
    assert mixed.route.reason.startswith("every level in one list") and len(mixed.route.levels) == 5


def test_a_text_beside_a_vector_or_an_example_at_one_level_is_said_to_be_unread(
    client: StrataClient, three_videos: np.ndarray
) -> None:
    # It was dropped unseen: a caller could believe it narrowed or scored the search.
    by_example = client.search(COLL, node_id="a@0", text="a corner kick", level="segment", top_k=3)
    plain = client.search(COLL, node_id="a@0", level="segment", top_k=3)
    assert [h.node.id for h in by_example.hits] == [h.node.id for h in plain.hits]
    assert by_example.route.reason == (
        "level segment: requested explicitly; the text is not read: at one level the example's vector scores"
        " (AUTO or ALL parse it)"
    )
    assert plain.route.reason == "level segment: requested explicitly"
    by_vector = client.search(COLL, vector=three_videos[0], text="a corner kick", level="segment", top_k=3)
    assert "the text is not read: at one level the query vector scores" in by_vector.route.reason
    # A routed search parses it: nothing is said to be unread.
    routed = client.search(COLL, node_id="a@0", text="a corner kick", level="auto", top_k=3)
    assert "not read" not in routed.route.reason


def test_videos_timed_in_epoch_milliseconds_are_searched_as_any_other(client: StrataClient) -> None:
    # Starts past 2**40 ms spilled into the next video's code in the in-memory spans: a
    # search filtered to such a video found nothing, one filtered to another video found
    # its nodes, and once a video was added every search of the collection failed INTERNAL.
    epoch = 1_700_000_000_000
    client.create_collection("cams", dimension=DIM)
    vectors = unit_vectors(60, seed=9)
    for i, (video, at) in enumerate((("cam-a", epoch), ("cam-b", 0))):
        client.create_video("cams", video)
        batch = rows(video, vectors[i * 30 : (i + 1) * 30])
        client.append_segments(
            "cams", [{**r, "start_ms": r["start_ms"] + at, "end_ms": r["end_ms"] + at} for r in batch]
        )
        client.seal_video("cams", video)
    for level in ("segment", "scene", "auto"):
        for video, probe in (("cam-a", vectors[0]), ("cam-b", vectors[30])):
            found = client.search("cams", vector=probe, level=level, top_k=50, video_ids=video).hits
            assert found and {h.node.video_id for h in found} == {video}, (level, video)
    inside = client.search("cams", vector=vectors[0], level="segment", top_k=50, time_range=(epoch, epoch + 4000))
    assert [h.node.start_ms for h in sorted(inside.hits, key=lambda h: h.node.start_ms)] == [epoch, epoch + 2000]
    client.create_video("cams", "cam-c")
    client.append_segments("cams", rows("cam-c", vectors[:3]))
    later = client.search("cams", vector=vectors[0], level="segment", top_k=100)
    assert {h.node.video_id for h in later.hits} == {"cam-a", "cam-b", "cam-c"} and len(later.hits) == 63
