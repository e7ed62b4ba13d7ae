"""What the SDK sends and raises, against a real server: arguments that reach the
request as written, values refused naming their field, errors that cross processes,
listings that fail at the call, a closed client that says so (streams:
test_client_streams.py)."""

from __future__ import annotations

import pickle
import re
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from service.client import ClientClosedError, StrataClient, StrataRpcError, attribute_filters, attributes_of
from service.gen.strata.v1 import video_pb2
from service.server import StrataServer
from tests.service.conftest import DIM, rows, unit_vectors


def test_one_video_id_or_label_as_a_string_is_one_name(client: StrataClient, loaded: np.ndarray) -> None:
    # A string is a sequence of characters: 'v1' was sent as ['v', '1'] and matched nothing.
    client.create_video("c", "v2")
    client.append_segments("c", rows("v2", unit_vectors(5, seed=4)))
    by_list = client.search("c", vector=loaded[0], level="segment", top_k=50, video_ids=["v1"], labels=["pass"])
    by_name = client.search("c", vector=loaded[0], level="segment", top_k=50, video_ids="v1", labels="pass")
    assert [h.node.id for h in by_name.hits] == [h.node.id for h in by_list.hits] and by_list.hits


def test_a_segment_label_as_a_string_is_one_label(client: StrataClient, loaded: np.ndarray) -> None:
    # It was sent as its characters: "goal" stored as the labels g, o, a, l.
    client.append_segments("c", [{"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": loaded[0],
                                  "labels": "goal", "shot_cut": np.bool_(True)}])  # fmt: skip
    assert list(client.get_node("c", "v1@100000").labels) == ["goal"]


def test_segment_fields_given_as_null_or_whole_floats_are_taken(client: StrataClient, loaded: np.ndarray) -> None:
    # JSON's null reads as the field left out; a whole float (a table's column) as its number.
    row = {"video_id": "v1", "start_ms": 100_000.0, "end_ms": np.float64(101_000), "vector": loaded[0],
           "id": None, "text": None, "labels": None, "shot_cut": None}  # fmt: skip
    client.append_segments("c", [row])
    node = client.get_node("c", "v1@100000")
    assert (node.start_ms, node.end_ms, list(node.labels), node.text) == (100_000, 101_000, [], "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_ms", 0.9),
        ("end_ms", True),
        ("shot_cut", "false"),
        ("shot_cut", 0),
        ("text", 0),
        ("id", 0),
        ("video_id", 7),
        ("labels", 5),
        ("labels", b"goal"),
        ("labels[1]", ["goal", 3]),
    ],
)
def test_a_segment_field_of_the_wrong_kind_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, field: str, value: object
) -> None:
    # A cast misread them: start_ms 0.9 was sent as 0, "false" as True.
    row = {"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": loaded[0]} | {field.split("[")[0]: value}
    with pytest.raises(TypeError, match=rf"^segments\[0\]\.{re.escape(field)}: give "):
        client.append_segments("c", [row])
    assert client.get_video("c", "v1").segment_count == len(loaded)  # nothing was sent


NOT_A_VECTOR = [
    (["1.0"] * DIM, "vector[0]: give a number, not str '1.0'"),  # was read as the number
    ([1.0] * (DIM - 1) + [True], "vector[15]: give a number, not bool True"),  # was 1.0
    ("1,2,3", "vector: give a 1-D list or array of numbers, not str '1,2,3'"),  # named no field
    (np.ones((2, DIM // 2)), "vector: give a 1-D list or array of numbers, not a 2-D array of shape (2, 8)"),
    (np.ones(DIM, bool), "vector: give a 1-D list or array of numbers, not an array of bool"),  # was 1s
    (np.ones(DIM, complex), "vector: give a 1-D list or array of numbers, not an array of complex128"),
    ({"x": 1.0}, "vector: give a 1-D list or array of numbers, not dict"),
]


@pytest.mark.parametrize(("value", "said"), NOT_A_VECTOR)
def test_a_segment_vector_of_the_wrong_kind_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, value: object, said: str
) -> None:
    # A cast misread each (a (2, 8) array was stored as one 16-d vector); nothing is stored now.
    row = {"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": value}
    with pytest.raises(TypeError, match=rf"^segments\[0\]\.{re.escape(said)}"):
        client.append_segments("c", [row])
    assert client.get_video("c", "v1").segment_count == len(loaded)


@pytest.mark.parametrize(("value", "said"), NOT_A_VECTOR)
def test_a_search_vector_of_the_wrong_kind_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, value: object, said: str
) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(said)}"):
        client.search("c", vector=value, level="segment")
    part = said.replace("vector", "part_vectors[1]", 1)  # each part names its place in the list
    with pytest.raises(TypeError, match=f"^{re.escape(part)}"):
        client.search("c", text="a goal", part_vectors=[loaded[0], value])


NUMPY_ATTRIBUTES = {"minute": np.int64(3), "xg": np.float32(0.5), "home": np.bool_(True), "shirts": np.array([7, 9])}


def test_numpy_values_in_attributes_are_the_numbers_they_hold(client: StrataClient, loaded: np.ndarray) -> None:
    # protobuf refused them: "ValueError: Unexpected type", naming nothing.
    expected = {"minute": 3, "xg": 0.5, "home": True, "shirts": [7, 9]}
    video = client.create_video("c", "w", attributes=NUMPY_ATTRIBUTES)
    assert json_format.MessageToDict(video.attributes) == expected
    client.append_segments("c", [{"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": loaded[0],
                                  "attributes": NUMPY_ATTRIBUTES}])  # fmt: skip
    assert json_format.MessageToDict(client.get_node("c", "v1@100000").attributes) == expected


def _nested(levels: int) -> dict[str, object]:
    """Attributes ``levels`` mappings deep: {"k": {"k": ... 1}}."""
    value: object = 1
    for _ in range(levels):
        value = {"k": value}
    return value  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("attributes", "error", "said"),
    [
        (["minute", 3], TypeError, "attributes: give a mapping of names to values, not list"),  # was AttributeError
        ("minute=3", TypeError, "attributes: give a mapping of names to values, not str"),
        ({"clip": b"\x00"}, TypeError, "attributes.clip: give a string, a number, a bool, None, a list or a mapping"),
        ({"teams": {"home"}}, TypeError, "attributes.teams: give a string, a number, a bool, None, a list or a "),
        ({"event": {"at": object()}}, TypeError, "attributes.event.at: give a string, a number, a bool"),
        ({7: "seven"}, TypeError, "attributes: give string keys, not int 7"),
        # A double holds it as 9007199254740992: it came back one less than was sent.
        ({"frame": 2**53 + 1}, ValueError, "attributes.frame: 9007199254740993 is not below 2**53"),
        # The server's limit; past 32 levels protobuf's decoder raised a DecodeError naming nothing.
        (_nested(17), ValueError, "attributes" + ".k" * 17 + ": nests deeper than 16 levels"),
        (_nested(40), ValueError, "attributes" + ".k" * 17 + ": nests deeper than 16 levels"),
    ],
)
def test_attributes_of_the_wrong_kind_are_refused_naming_them(
    client: StrataClient, loaded: np.ndarray, attributes: object, error: type[Exception], said: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(said)}"):
        client.create_video("c", "w", attributes=attributes)  # type: ignore[arg-type]
    row = {"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": loaded[0], "attributes": attributes}
    with pytest.raises(error, match=rf"^segments\[0\]\.{re.escape(said)}"):
        client.append_segments("c", [row])
    assert [v.id for v in client.list_videos("c")] == ["v1"] and client.get_video("c", "v1").segment_count == 50


def test_attributes_as_deep_as_the_server_takes_are_sent(client: StrataClient, loaded: np.ndarray) -> None:
    client.create_video("c", "deep", attributes=_nested(16))
    assert client.get_video("c", "deep").attributes == json_format.ParseDict(_nested(16), video_pb2.Video().attributes)


def test_search_attributes_that_are_not_a_mapping_are_a_type_error(client: StrataClient, loaded: np.ndarray) -> None:
    with pytest.raises(TypeError, match="^attributes: give a mapping of keys to conditions, not list"):
        client.search("c", vector=loaded[0], attributes=["team", "home"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^attributes\['minute'\]: give numbers \(or None\) as the bounds"):
        client.search("c", vector=loaded[0], attributes={"minute": ("10", None)})


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"lables": ["goal"]}, "lables: is not a segment field"),  # was dropped: stored without labels
        ({"start_ms": None}, "start_ms: is missing"),  # was a bare KeyError
        ({"video_id": None}, "video_id: is missing"),
    ],
)
def test_a_segment_row_missing_a_field_or_with_one_the_format_lacks_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, change: dict, said: str
) -> None:
    row = {"video_id": "v1", "start_ms": 100_000, "end_ms": 101_000, "vector": loaded[0]} | change
    with pytest.raises(TypeError, match=rf"^segments\[0\]\.{re.escape(said)}"):
        client.append_segments("c", [{k: v for k, v in row.items() if v is not None}])
    assert client.get_video("c", "v1").segment_count == len(loaded)  # nothing was sent


def test_an_error_in_a_batch_names_its_row(client: StrataClient, loaded: np.ndarray) -> None:
    # It said "start_ms: give a whole number", leaving the caller to look through 51 rows.
    batch = rows("v1", unit_vectors(51, seed=5), start_index=100)
    batch[50]["start_ms"] = 99_000.5
    with pytest.raises(TypeError, match=r"^segments\[50\]\.start_ms: give a whole number"):
        client.append_segments("c", batch)
    with pytest.raises(TypeError, match=r"^segments\[1\]: give a dict of segment fields or a Segment message, not str"):
        client.append_segments("c", [batch[0], "v1@0"])
    assert client.get_video("c", "v1").segment_count == len(loaded)  # nothing was sent


@pytest.mark.parametrize(
    ("field", "given", "named"),
    [("video_ids", [1], "video_ids[0]"), ("labels", ["goal", None], "labels[1]"), ("labels", 5, "labels")],
)
def test_a_search_filter_of_the_wrong_kind_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, field: str, given: object, named: str
) -> None:
    # protobuf's own message named nothing: "bad argument type for built-in operation".
    with pytest.raises(TypeError, match=f"^{re.escape(named)}: give "):
        client.search("c", vector=loaded[0], **{field: given})


def test_whole_floats_a_path_and_an_open_end_are_taken(
    client: StrataClient, loaded: np.ndarray, tmp_path: Path
) -> None:
    # Each was a TypeError naming nothing ("'float' object cannot be interpreted as an integer").
    by_ints = client.search("c", vector=loaded[0], level="segment", top_k=50, time_range=(10_000, 20_000))
    by_floats = client.search("c", vector=loaded[0], level="segment", top_k=50.0, time_range=(10_000.0, 20_000.0))
    assert [h.node.id for h in by_floats.hits] == [h.node.id for h in by_ints.hits] and len(by_ints.hits) == 5
    open_end = client.search("c", vector=loaded[0], level="segment", top_k=50, time_range=(90_000, None))
    assert sorted(h.node.start_ms for h in open_end.hits) == [90_000, 92_000, 94_000, 96_000, 98_000]
    assert client.create_video("c", "w", duration_ms=5000.0).duration_ms == 5000
    assert client.create_snapshot(tmp_path / "copy").files


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (lambda c: c.search("c", text="x", time_range=(10_000.5, 20_000)), "time_range[0]: give a whole number of "),
        (lambda c: c.search("c", text="x", time_range=10_000), "time_range: give a (start_ms, end_ms) pair, not int"),
        (lambda c: c.search("c", text="x", top_k=2.5), "top_k: give a whole number, not float 2.5"),
        (lambda c: c.search("c", text="x", group_size="3"), "group_size: give a whole number, not str '3'"),
        (lambda c: c.create_video("c", "w", duration_ms="5000"), "duration_ms: give a whole number of milliseconds"),
        (lambda c: c.create_video("c", "w", hints={"scene": 2000}), "hints.scene: give a list of cut times in "),
        (lambda c: c.create_video("c", "w", hints={"scene": [2000.5]}), "hints.scene[0]: give a whole number of "),
        (lambda c: c.create_video("c", "w", hints=[2000]), "hints: give a mapping of level names to lists of cut"),
        (lambda c: c.neighbors("c", "v1@0", before=1.5), "before: give a whole number, not float 1.5"),
        (lambda c: c.create_snapshot(b"/tmp/copy"), "destination_dir: give a path (a str or a Path), not bytes"),
        (
            lambda c: c.append_segments("c", rows("v1", unit_vectors(1))[0]),
            "segments: give a list of segments, not dict",
        ),
        (
            lambda c: c.stream_segments("c", [rows("v1", unit_vectors(1))]),
            "batch[0]: give a (request_id, segments) pair",
        ),
    ],
)
def test_an_argument_of_the_wrong_kind_is_a_type_error_naming_it(
    client: StrataClient, loaded: np.ndarray, call: Callable[[StrataClient], object], said: str
) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(said)}"):
        call(client)
    assert [v.id for v in client.list_videos("c")] == ["v1"] and client.get_video("c", "v1").segment_count == 50


INT32 = "a whole number from -2147483648 to 2147483647"
INT64 = "a whole number from -9223372036854775808 to 9223372036854775807"


@pytest.mark.parametrize(
    ("call", "error", "said"),
    [
        # protobuf refused each naming no field: "Value out of range: 1099511627776",
        # "bad argument type for built-in operation", "int too large to convert to float".
        (lambda c: c.search("c", text="x", top_k=2**40), ValueError, f"top_k: give {INT32}, not int 1099511627776"),
        (lambda c: c.search("c", text="x", group_by_video=True, group_size=2**31), ValueError, "group_size: give"),
        (lambda c: c.search("c", text=5), TypeError, "text: give a string, not int 5"),
        (lambda c: c.search("c", text="x", diversity="a"), TypeError, "diversity: give a number (a float32), not str"),
        (lambda c: c.search("c", text="x", rerank="yes"), TypeError, "rerank: give True or False, not str 'yes'"),
        (lambda c: c.search("c", text="x", attributes={1: "x"}), TypeError, "attributes: give string keys, not int 1"),
        (lambda c: c.search("c", text="x", attributes={"m": (0, 10**400)}), ValueError, "attributes['m'].max: give"),
        (lambda c: c.search("c", text="x", attributes={"m": 10**400}), ValueError, "attributes['m']: int 1000"),
        (lambda c: c.search("c", text="x", time_range=(0, 2**70)), ValueError, f"time_range.end_ms: give {INT64}"),
        (lambda c: c.neighbors("c", "v1@0", before=2**40), ValueError, f"before: give {INT32}"),
        (lambda c: c.subtree("c", "v1@0", depth=2**33), ValueError, f"depth: give {INT32}"),
        (lambda c: list(c.list_videos("c", page_size=2**40)), ValueError, f"page_size: give {INT32}"),
        (lambda c: c.create_collection("d", dimension=2**40), ValueError, "dimension: give a whole number from 0 to "),
        (
            lambda c: c.create_collection("d", dimension=8, hierarchy={"scene_min_ms": "x"}),
            TypeError,
            f"hierarchy.scene_min_ms: give {INT64}, not str 'x'",
        ),  # fmt: skip
        (
            lambda c: c.create_collection("d", dimension=8, hierarchy={"scene_min": 1}),
            ValueError,
            "hierarchy.scene_min: is not a field of HierarchyConfig; use ",
        ),  # fmt: skip
        (lambda c: c.build_hierarchy("c", scene_max_ms=2**64), ValueError, f"scene_max_ms: give {INT64}"),
        (lambda c: c.create_video("c", "w", duration_ms=2**70), ValueError, f"duration_ms: give {INT64}"),
        (lambda c: c.seal_video("c", "v1", hints={"scene": [2**70]}), ValueError, "hints.scene.cut_ms: give a list"),
        (
            lambda c: c.append_segments("c", [{"video_id": "v1", "start_ms": 2**70, "end_ms": 1}]),
            ValueError,
            f"segments[0].start_ms: give {INT64}, not int 1180591620717411303424",
        ),  # fmt: skip
        (lambda c: c.search("c", text="x", timeout="1"), TypeError, "timeout: give a number of seconds (or None: no"),
        (lambda c: c.search("c", text="x", timeout=0), ValueError, "timeout: is 0; give a number of seconds above 0"),
        (lambda c: c.verify("c", timeout=float("nan")), ValueError, "timeout: is nan; give a number of seconds above"),
        (lambda c: c.stream_segments("c", [], timeout=-1), ValueError, "timeout: is -1; give a number of seconds"),
    ],
)
def test_a_value_a_field_cannot_hold_is_refused_naming_the_field(
    client: StrataClient, loaded: np.ndarray, call: Callable[[StrataClient], object], error: type, said: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(said)}"):
        call(client)
    # Refused before anything was sent: nothing was made or changed.
    assert [c.name for c in client.list_collections()] == ["c"] and client.get_video("c", "v1").segment_count == 50
    assert [v.id for v in client.list_videos("c")] == ["v1"]
    assert client.get_video("c", "v1").state == video_pb2.VIDEO_STATE_OPEN


def test_a_client_timeout_that_is_no_time_limit_is_refused_as_it_is_made(server: StrataServer) -> None:
    with pytest.raises(ValueError, match=r"^timeout: is -5; give a number of seconds above 0 \(or None: no limit\)"):
        StrataClient(server.address, timeout=-5)
    with pytest.raises(TypeError, match="^timeout: give a number of seconds"):
        StrataClient(server.address, timeout="60")


def test_an_unknown_hint_level_names_the_choices(client: StrataClient) -> None:
    with pytest.raises(ValueError, match="unknown hint level 'Half'; choose one of: scene, drive, half"):
        client.create_video("c", "w", hints={"Half": [1000]})


@pytest.mark.parametrize(
    ("value", "kind"), [(np.int64(3), "equals_number"), (np.bool_(True), "equals_bool"), ([10, 20], "range")]
)
def test_numpy_numbers_and_list_ranges_are_what_they_say(value: object, kind: str) -> None:
    [condition] = attribute_filters({"minute": value})
    assert condition.WhichOneof("condition") == kind


@pytest.mark.parametrize("value", [None, {"a": 1}, [1, 2, 3]])
def test_an_attribute_value_that_is_no_condition_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="attributes\\['minute'\\]"):
        attribute_filters({"minute": value})


def test_a_search_can_leave_the_evidence_out(client: StrataClient, loaded: np.ndarray) -> None:
    client.seal_video("c", "v1")
    with_it = client.search("c", vector=loaded[0], level="scene", top_k=3)
    without = client.search("c", vector=loaded[0], level="scene", top_k=3, include_evidence=False)
    assert all(h.evidence for h in with_it.hits) and not any(h.evidence for h in without.hits)


def test_a_client_without_a_deadline_seals_a_video(server: StrataServer) -> None:
    # seal_video raised "TypeError: '>' not supported between ... 'int' and 'NoneType'".
    with StrataClient(server.address, timeout=None) as client:
        client.create_collection("c", dimension=DIM)
        client.create_video("c", "v")
        client.append_segments("c", rows("v", unit_vectors(8)))
        assert client.seal_video("c", "v").state == video_pb2.VIDEO_STATE_SEALED


@pytest.mark.parametrize(
    ("arguments", "error", "said"),
    [
        # Taken, and every call then failed INTERNAL: "Invalid metadata".
        ({"token": "wr1te\n"}, ValueError, "token holds a newline (as one read from a file ends); strip it"),
        ({"token": "s\u00e9same"}, ValueError, "token holds 'é'; a call's metadata carries only printable ASCII"),
        ({"max_message_mb": 0}, ValueError, "max_message_mb is 0; give 1 to 2047 (megabytes)"),  # refused all
        ({"max_message_mb": 4096}, ValueError, "max_message_mb is 4096; give 1 to 2047"),  # OverflowError
        ({"max_message_mb": 0.5}, TypeError, "max_message_mb: give a whole number of megabytes, not float 0.5"),
    ],
)
def test_an_argument_grpc_cannot_use_is_refused_as_the_client_is_made(
    server: StrataServer, arguments: dict, error: type[Exception], said: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(said)}"):
        StrataClient(server.address, **arguments)


def test_an_error_crosses_processes_whole(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as err:
        client.get_collection("nowhere")
    again = pickle.loads(pickle.dumps(err.value))
    assert (again.code, again.message, again.fields, str(again)) == (
        err.value.code, err.value.message, err.value.fields, str(err.value)
    )  # fmt: skip


def test_an_unknown_level_or_metric_names_the_choices(client: StrataClient) -> None:
    with pytest.raises(ValueError, match="unknown level 'scenes'; choose one of: segment, scene"):
        client.search("c", text="x", level="scenes")
    with pytest.raises(ValueError, match="unknown metric 'cosine'"):
        client.create_collection("m", dimension=4, metric="cosine")


def test_a_level_name_is_taken_in_any_case(client: StrataClient, loaded: np.ndarray) -> None:
    # "SCENE" (the API's enum spells it so) was "unknown level 'SCENE'".
    client.seal_video("c", "v1")
    upper = client.search("c", vector=loaded[0], level="SCENE", top_k=3)
    lower = client.search("c", vector=loaded[0], level="scene", top_k=3)
    assert [h.node.id for h in upper.hits] == [h.node.id for h in lower.hits] and upper.hits
    assert (
        client.search("c", node_id="v1@0", level="AUTO").route.reason
        == client.search("c", node_id="v1@0", level="auto").route.reason
    )
    with pytest.raises(TypeError, match="^level: give a level name, not int 3"):
        client.search("c", text="x", level=3)  # type: ignore[arg-type]


def test_a_listing_that_cannot_be_read_raises_at_the_call(client: StrataClient) -> None:
    # Not at the first step of a loop far from the call that named the collection.
    with pytest.raises(StrataRpcError) as err:
        client.list_videos("nowhere")
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_a_listing_reads_every_page(client: StrataClient) -> None:
    for name in ("a", "b", "c", "d", "e"):
        client.create_collection(name, dimension=DIM)
    assert [c.name for c in client.list_collections(page_size=2)] == ["a", "b", "c", "d", "e"]


def test_search_pages_walks_a_search_to_its_end_as_one_long_page(client: StrataClient, loaded: np.ndarray) -> None:
    query = {"vector": loaded[0], "level": "segment", "include_evidence": False}
    pages = list(client.search_pages("c", top_k=7, **query))
    assert len(pages) == 8 and not pages[-1].next_page_token and all(p.next_page_token for p in pages[:-1])
    walked = [h.node.id for page in pages for h in page.hits]
    assert walked == [h.node.id for h in client.search("c", top_k=50, **query).hits] and len(set(walked)) == 50
    with pytest.raises(StrataRpcError) as err:  # refused at the call, not at the first step of a loop
        client.search_pages("nowhere", **query)
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(TypeError, match="^page_token: leave it out"):
        client.search_pages("c", page_token=pages[0].next_page_token, **query)


def test_attributes_come_back_as_the_python_values_given(client: StrataClient) -> None:
    """A Struct holds every number as a double: read from the message, 1 was 1.0."""
    given = {"n": 1, "xg": 0.5, "team": "home", "shots": [1, 2.5], "on": True, "clock": {"minute": 3}}
    client.create_collection("attrs", dimension=DIM)
    video = client.create_video("attrs", "v", attributes=given)
    client.append_segments("attrs", [{"video_id": "v", "start_ms": 0, "end_ms": 10, "vector": [1.0] * DIM,
                                      "attributes": given}])  # fmt: skip
    assert video.attributes["n"] == 1.0 and isinstance(video.attributes["n"], float)  # the message's double
    for message in (client.get_video("attrs", "v"), client.get_node("attrs", "v@0"), video.attributes):
        read = attributes_of(message)
        assert read == given and isinstance(read["n"], int) and isinstance(read["clock"]["minute"], int)


def test_a_batch_stored_by_an_attempt_whose_answer_came_too_late_is_replayed_not_stored_twice(
    server: StrataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt commits, then its answer misses the deadline: the retry carries
    the same request id (made by the client), so it is answered as the first, replayed."""
    from hierarchy.db import Database

    real, calls = Database.append_segments, []

    def slow_answer(db: Database, *args: object, **kwargs: object) -> object:
        stored = real(db, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(kwargs.get("request_id", args[2] if len(args) > 2 else ""))
        if len(calls) == 1:
            time.sleep(1.5)  # committed; the answer comes after the client's 0.5 s deadline
        return stored

    monkeypatch.setattr(Database, "append_segments", slow_answer)
    with StrataClient(server.address, timeout=0.5) as client:
        client.create_collection("late", dimension=DIM)
        client.create_video("late", "v")
        reply = client.append_segments("late", rows("v", unit_vectors(3)), retries=3)
        assert reply.replayed and len(reply.segment_ids) == 3
        assert len(calls) >= 2 and len(set(calls)) == 1 and calls[0].startswith("retried-")
        assert client.get_collection("late").segment_count == 3
        with pytest.raises(StrataRpcError) as err:  # not a failure a retry can mend: raised at once
            client.append_segments("late", rows("v", unit_vectors(1, seed=5)), retries=3)
        assert err.value.code is grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(ValueError, match="^retries: is -1"):
            client.append_segments("late", rows("v", unit_vectors(1)), retries=-1)


def test_a_closed_client_says_so(server: StrataServer) -> None:
    closed = StrataClient(server.address)
    closed.close()
    for call in (
        lambda: closed.get_collection("c"),
        lambda: closed.list_collections(),
        lambda: closed.stream_segments("c", iter([])),
    ):
        with pytest.raises(ClientClosedError, match="this StrataClient is closed; make a new StrataClient"):
            call()


def test_a_view_with_another_timeout_keeps_its_own_deadline_and_shares_the_connection(
    client: StrataClient, loaded: np.ndarray
) -> None:
    hurried = client.with_timeout(1e-9)
    with pytest.raises(StrataRpcError) as caught:
        hurried.get_video("c", "v1")
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.get_video("c", "v1").segment_count == 50  # the client keeps its own deadline
    assert client.with_timeout(None).timeout is None and client.timeout == 30.0  # (the fixture's)
    with pytest.raises(ValueError, match=r"^timeout: is 0; give a number of seconds above 0"):
        client.with_timeout(0)
    hurried.close()
    with pytest.raises(ClientClosedError):
        client.get_video("c", "v1")


def test_a_wait_of_no_time_looks_once_where_a_deadline_of_none_is_refused(client: StrataClient) -> None:
    # wait_operation(timeout=0) looked once and answered; it was refused with the calls'
    # deadlines, which gRPC took as already past.
    from service.rows import seconds

    assert seconds(0, "timeout", zero=True) == 0.0
    with pytest.raises(ValueError, match=r"^timeout: is -1; give a number of seconds 0 or more"):
        seconds(-1, "timeout", zero=True)
    client.create_collection("w", dimension=DIM)
    done = client.wait_operation(client.build_hierarchy("w").name, timeout=30)  # no videos: done at once
    assert client.wait_operation(done.name, timeout=0).done
