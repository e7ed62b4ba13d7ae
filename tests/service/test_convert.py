"""Converters: each pair round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import struct_pb2

from hierarchy import filters
from hierarchy import types as t
from hierarchy.errors import InvalidArgument, ResourceExhausted
from hierarchy.operations import Operation
from hierarchy.query import parse
from service import convert as cv
from service.gen.strata.v1 import common_pb2, search_pb2


def test_vector_round_trip_is_exact() -> None:
    values = np.random.default_rng(0).normal(size=77).astype(np.float32)
    assert np.array_equal(cv.from_proto_vector(cv.to_proto_vector(values), "v"), values)


def test_vector_dimension_must_match_bytes() -> None:
    msg = common_pb2.Vector(data=np.ones(4, "<f4").tobytes(), dimension=5)
    with pytest.raises(InvalidArgument) as info:
        cv.from_proto_vector(msg, "vector")
    assert info.value.field == "vector.dimension"


def test_segment_round_trip() -> None:
    seg = t.SegmentInput(
        "v",
        10,
        2010,
        np.ones(3, np.float32),
        "kick-off",
        ["kick-off"],
        {"team": "home", "period": 1, "xg": 0.25},
        "id-1",
        True,
    )
    back = cv.from_proto_segment(cv.to_proto_segment(seg), "s")
    assert back.attributes == {"team": "home", "period": 1, "xg": 0.25}
    assert (back.video_id, back.start_ms, back.end_ms, back.text, back.labels, back.id, back.shot_cut) == (
        "v",
        10,
        2010,
        "kick-off",
        ["kick-off"],
        "id-1",
        True,
    )
    assert np.array_equal(back.vector, seg.vector)


def test_space_round_trip() -> None:
    for metric in t.Metric:
        space = t.EmbeddingSpace(8, metric, "marengo", "2.7", "")
        assert cv.from_proto_space(cv.to_proto_space(space)) == space


@pytest.mark.parametrize(
    ("granularity", "mode", "level"),
    [
        (search_pb2.GRANULARITY_UNSPECIFIED, t.Mode.AUTO, None),
        (search_pb2.GRANULARITY_AUTO, t.Mode.AUTO, None),
        (search_pb2.GRANULARITY_ALL, t.Mode.ALL, None),
        (search_pb2.GRANULARITY_HALF, t.Mode.LEVEL, t.Level.HALF),
    ],
    ids=["unset-is-auto", "auto", "all", "half"],
)
def test_granularity_maps_to_mode_and_level(granularity: int, mode: t.Mode, level: t.Level | None) -> None:
    query = cv.from_proto_search(search_pb2.SearchRequest(collection="c", granularity=granularity))
    assert query.mode is mode and (level is None or query.level is level)


def test_unknown_granularity_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        cv.from_proto_search(search_pb2.SearchRequest(collection="c", granularity=42))
    assert info.value.field == "granularity"


def test_struct_with_nan_names_the_field() -> None:
    msg = struct_pb2.Struct()
    msg.update({"xg": float("nan")})
    with pytest.raises(InvalidArgument) as info:
        cv.from_proto_struct(msg, "segments[2].attributes")
    assert info.value.field == "segments[2].attributes"


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (search_pb2.AttributeFilter(key="xg", equals_number=float("nan")), "filter.attributes[0].equals_number"),
        (
            search_pb2.AttributeFilter(key="xg", range=search_pb2.NumberRange(max=float("inf"))),
            "filter.attributes[0].range.max",
        ),
    ],
    ids=["nan-equals", "infinite-bound"],
)
def test_filters_with_non_finite_numbers_are_refused(condition: search_pb2.AttributeFilter, field: str) -> None:
    """The core checks a converted filter (for in-process callers too), naming the proto's fields."""
    with pytest.raises(InvalidArgument) as info:
        filters.check(cv.from_proto_filter(search_pb2.Filter(attributes=[condition])))
    assert info.value.field == field


def test_filter_video_ids_must_be_ids() -> None:
    with pytest.raises(InvalidArgument) as info:
        filters.check(cv.from_proto_filter(search_pb2.Filter(video_ids=["v1", ""])))
    assert info.value.field == "filter.video_ids[1]"


def test_search_carries_the_callers_deadline() -> None:
    request = search_pb2.SearchRequest(collection="c")
    assert cv.from_proto_search(request).deadline is None
    assert cv.from_proto_search(request, 123.5).deadline == 123.5


def test_parse_names_the_result_asked_of_a_game() -> None:
    assert cv.to_proto_parse(parse("a match the hosts won")).result == "home win"
    assert cv.to_proto_parse(parse("a corner kick")).result == ""


def test_parse_names_the_side_a_query_asks_for() -> None:
    assert cv.to_proto_parse(parse("corner kick for the away side")).side == "away"
    assert cv.to_proto_parse(parse("a corner kick")).side == ""


def test_parse_names_the_part_searched_and_every() -> None:
    part = cv.to_proto_parse(parse("every corner in the second half"))
    assert (part.within, part.within_position, part.every) == (common_pb2.LEVEL_HALF, 2, True)
    plain = cv.to_proto_parse(parse("a corner kick"))
    assert (plain.within, plain.within_position, plain.every) == (0, 0, False)


def test_parse_lists_the_events_of_a_sequence_in_order() -> None:
    assert list(cv.to_proto_parse(parse("a cross then a header")).sequence) == ["cross", "a header"]
    assert list(cv.to_proto_parse(parse("a corner kick")).sequence) == []


def test_route_says_when_hits_are_in_time_order() -> None:
    listed = t.SearchResult([], t.Route((t.Level.SEGMENT,), "every goal", in_time_order=True), False)
    assert cv.to_proto_search(listed, "").route.in_time_order
    ranked = t.SearchResult([], t.Route((t.Level.SEGMENT,), "a goal"), False)
    assert not cv.to_proto_search(ranked, "").route.in_time_order


def test_a_hit_carries_a_count_only_where_its_route_counted() -> None:
    node = t.Node("v/half/0", t.Level.HALF, "v", 0, 1000)
    none_held = cv.to_proto_hit(t.Hit(node, 1.0, 0.5, 1, count=0))
    assert none_held.HasField("count") and none_held.count == 0  # counted, and it holds none
    assert not cv.to_proto_hit(t.Hit(node, 1.0, 0.5, 1)).HasField("count")


def _segments(count: int, text: str = "") -> list[tuple[t.Node, int]]:
    return [(t.Node(f"v@{i}", t.Level.SEGMENT, "v", i * 1000, i * 1000 + 1000, text=text), 1) for i in range(count)]


def test_an_answer_whose_wrappers_pass_the_limit_is_refused_naming_the_field() -> None:
    """Each node of a subtree is wrapped (depth, tag, length): nodes just under the limit
    still made a message over it, which gRPC refused with no field named."""
    items = _segments(500)
    nodes_alone = sum(cv.to_proto_node(n).ByteSize() for n, _ in items)
    whole = cv.to_proto_subtree(items).ByteSize()
    assert nodes_alone < whole
    assert len(cv.to_proto_subtree(items, max_bytes=whole).nodes) == 500
    with pytest.raises(ResourceExhausted) as err:
        cv.to_proto_subtree(items, max_bytes=nodes_alone + 1)
    assert err.value.field == "depth" and "smaller depth" in err.value.message


def test_a_node_too_large_by_itself_names_the_node_not_the_count() -> None:
    """Asking for fewer nodes cannot help when the first one alone passes the limit."""
    (big, _), *_ = _segments(1, text="x" * 5000)
    with pytest.raises(ResourceExhausted) as err:
        cv.to_proto_similar([(big, 0.9)], max_bytes=4096)
    assert err.value.field == "node_id" and "'v@0' alone passes" in err.value.message
    assert "max_message_mb" in err.value.message
    with pytest.raises(ResourceExhausted) as err:  # two nodes that fit one by one: fewer would
        cv.to_proto_similar([(n, 0.9) for n, _ in _segments(2, text="x" * 3000)], max_bytes=4096)
    assert err.value.field == "top_k"


def test_a_node_that_fits_only_without_its_wrapper_is_too_large_by_itself() -> None:
    (node, _), *_ = _segments(1, text="x" * 5000)
    size = cv.to_proto_node(node).ByteSize()
    with pytest.raises(ResourceExhausted) as err:  # fits bare, not inside the answer
        cv.to_proto_similar([(node, 0.9)], max_bytes=size + 1)
    assert err.value.field == "node_id"
    assert len(cv.to_proto_similar([(node, 0.9)], max_bytes=size + 64).nodes) == 1  # the allowance itself


def test_a_search_hit_whose_ancestor_alone_passes_the_limit_says_to_leave_ancestors_off() -> None:
    (segment, _), *_ = _segments(1)
    (video, _), *_ = _segments(1, text="x" * 5000)
    hit = t.Hit(segment, 1.0, 0.5, 1, 1.0, (), (video,))
    result = t.SearchResult([hit], t.Route((t.Level.SEGMENT,), "", {}, None), False)
    with pytest.raises(ResourceExhausted) as err:
        cv.to_proto_search(result, "", max_bytes=4096)
    assert err.value.field == "top_k" and "leave include_ancestors or include_evidence off" in err.value.message
    assert "ListChildren" not in err.value.message


def test_an_operation_names_the_videos_it_left_out() -> None:
    op = Operation("operations/x", "build the trees of 3 videos of c", 3, 3, True, "", ("v2",))
    message = cv.to_proto_operation(op)
    assert (list(message.skipped), message.progress, message.total) == (["v2"], 3, 3)
