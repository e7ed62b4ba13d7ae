"""Bad input over gRPC: the right status code, the field named, nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from service.client import StrataClient, StrataRpcError
from tests.service.conftest import DIM, rows, unit_vectors


def _seg(start: int, end: int, vector: object = None, video: str = "v1", **extra: object) -> dict:
    row = {
        "video_id": video,
        "start_ms": start,
        "end_ms": end,
        "vector": np.ones(DIM, np.float32) if vector is None else vector,
    }
    row.update(extra)
    return row


NAN = np.full(DIM, np.nan, np.float32)
INF = np.full(DIM, np.inf, np.float32)
GOOD = [_seg(200_000, 202_000)]

CASES = {
    "wrong-dimension": (
        GOOD + [_seg(202_000, 204_000, np.ones(DIM + 1, np.float32))],
        "INVALID_ARGUMENT",
        "segments[1].vector",
    ),
    "nan": (GOOD + [_seg(202_000, 204_000, NAN)], "INVALID_ARGUMENT", "segments[1].vector"),
    "inf": (GOOD + [_seg(202_000, 204_000, INF)], "INVALID_ARGUMENT", "segments[1].vector"),
    "end-before-start": (GOOD + [_seg(210_000, 205_000)], "INVALID_ARGUMENT", "segments[1].end_ms"),
    "negative-start": (GOOD + [_seg(-2000, 1000)], "INVALID_ARGUMENT", "segments[1].start_ms"),
    "unknown-video": (GOOD + [_seg(0, 2000, video="ghost")], "NOT_FOUND", "segments[1].video_id"),
    "duplicate-ids": (
        GOOD + [_seg(204_000, 206_000, id="x"), _seg(206_000, 208_000, id="x")],
        "INVALID_ARGUMENT",
        "segments[2].id",
    ),
    "overlap-in-batch": (GOOD + [_seg(201_000, 203_000)], "INVALID_ARGUMENT", "segments[1].start_ms"),
    "overlap-with-stored": (GOOD + [_seg(1000, 3000)], "ALREADY_EXISTS", "segments[1].start_ms"),
    "id-of-a-parent": (GOOD + [_seg(202_000, 204_000, id="v1/scene/0")], "INVALID_ARGUMENT", "segments[1].id"),
    "no-vector-no-encoder": (
        GOOD + [{"video_id": "v1", "start_ms": 300_000, "end_ms": 302_000, "text": "hi"}],
        "INVALID_ARGUMENT",
        "segments[1].vector",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_batch_is_refused_whole(client: StrataClient, loaded: np.ndarray, case: str) -> None:
    batch, code, field = CASES[case]
    with pytest.raises(StrataRpcError) as info:
        client.append_segments("c", batch)
    assert info.value.code.name == code
    assert field in info.value.fields, info.value.fields
    assert client.get_video("c", "v1").segment_count == 50  # the good first segment was not written


def test_empty_batch(client: StrataClient, loaded: np.ndarray) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.append_segments("c", [])
    assert info.value.code.name == "INVALID_ARGUMENT" and "segments" in info.value.fields


def test_unknown_collection(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.append_segments("ghost", GOOD)
    assert info.value.code.name == "NOT_FOUND" and "collection" in info.value.fields


def test_garbage_vector_bytes(client: StrataClient, loaded: np.ndarray) -> None:
    from service.client import segment_from_dict

    seg = segment_from_dict(_seg(400_000, 402_000))
    seg.vector.data = b"\x00\x01\x02"  # not a whole number of float32 values
    with pytest.raises(StrataRpcError) as info:
        client.append_segments("c", [seg])
    assert info.value.code.name == "INVALID_ARGUMENT" and "segments[0].vector.data" in info.value.fields


def test_existing_segment_id(client: StrataClient, loaded: np.ndarray) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.append_segments("c", rows("v1", unit_vectors(1), start_index=0))
    assert info.value.code.name == "ALREADY_EXISTS"


SEQUENCE, ONES = "a foul then a replay", np.ones(DIM, np.float32)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"top_k": 5000}, "top_k"),
        ({"top_k": -1}, "top_k"),
        ({"page_token": "%%%"}, "page_token"),
        ({"time_range": (500, 100)}, "filter.time_range"),
        ({"text": SEQUENCE, "part_vectors": [ONES]}, "part_vectors"),
        ({"text": SEQUENCE, "part_vectors": [ONES, ONES], "level": "segment"}, "part_vectors"),
        ({"text": SEQUENCE, "part_vectors": [ONES, np.ones(3, np.float32)]}, "part_vectors[1]"),
        ({"node_id": "v1@0"}, "vector"),
        ({"attributes": {"xg": (2.0, 1.0)}}, "filter.attributes[0].range.min"),
    ],
    ids=[
        "top-k-too-big",
        "top-k-negative",
        "garbage-token",
        "reversed-time-range",
        "one-vector-for-two-parts",
        "parts-at-one-level",
        "part-of-wrong-dimension",
        "example-and-vector",
        "inverted-range",
    ],
)
def test_bad_search(client: StrataClient, loaded: np.ndarray, kwargs: dict, field: str) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.search("c", vector=loaded[0], **kwargs)
    assert info.value.code.name == "INVALID_ARGUMENT" and field in info.value.fields


def test_parse_query_without_text(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.parse_query("  ")
    assert info.value.code.name == "INVALID_ARGUMENT" and "text" in info.value.fields


def test_search_with_wrong_dimension(client: StrataClient, loaded: np.ndarray) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.search("c", vector=np.ones(DIM * 2, np.float32))
    assert info.value.code.name == "INVALID_ARGUMENT" and "vector" in info.value.fields


def test_duplicate_collection_and_video(client: StrataClient, loaded: np.ndarray) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.create_collection("c", dimension=DIM)
    assert info.value.code.name == "ALREADY_EXISTS"
    with pytest.raises(StrataRpcError) as info:
        client.create_video("c", "v1")
    assert info.value.code.name == "ALREADY_EXISTS"


def test_bad_collection_name_and_dimension(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.create_collection("bad name!", dimension=DIM)
    assert info.value.code.name == "INVALID_ARGUMENT" and "name" in info.value.fields
    with pytest.raises(StrataRpcError) as info:
        client.create_collection("nodim")
    assert info.value.code.name == "INVALID_ARGUMENT" and "space.dimension" in info.value.fields


@pytest.mark.parametrize("video_id", ["", "a\x00b"], ids=repr)
def test_seal_with_a_malformed_video_id(client: StrataClient, loaded: np.ndarray, video_id: str) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.seal_video("c", video_id)
    assert info.value.code.name == "INVALID_ARGUMENT" and "video_id" in info.value.fields


@pytest.mark.parametrize(
    "name", ["operations/" + "x" * 200, "operations/\x00", "garbage", ""], ids=["too-long", "nul", "no-prefix", "empty"]
)
def test_malformed_operation_name(client: StrataClient, name: str) -> None:
    with pytest.raises(StrataRpcError) as info:
        client.get_operation(name)
    assert info.value.code.name == "INVALID_ARGUMENT" and "name" in info.value.fields
