"""Batches the ``Database`` refuses: each bad batch is refused whole, naming the field
that is wrong, and leaves no trace (real DuckDB file, real USearch)."""

from __future__ import annotations

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted, StrataError
from hierarchy.types import EmbeddingSpace, SegmentInput
from tests.hierarchy.helpers import (
    COLLECTION,
    DIM,
    SEGMENT_MS,
    OpenDb,
    indexed_count,
    segment_count,
    segments,
    unit_vectors,
)

# -- refused batches ----------------------------------------------------------------------
# The ``games`` collection holds v1@0, v1@1000, v1@2000 before each case; every bad batch
# is refused whole, with the field that is wrong.


def fresh(i: int, video_id: str = "v2", **kwargs: object) -> SegmentInput:
    """A valid new segment, the ``i``-th 1 s slot of ``video_id`` from 10 s on."""
    start = 10_000 + i * SEGMENT_MS
    vector = kwargs.pop("vector", unit_vectors(1, seed=100 + i)[0])
    return SegmentInput(video_id, start, start + SEGMENT_MS, vector, **kwargs)  # type: ignore[arg-type]


def with_vector(values: list[float] | np.ndarray) -> SegmentInput:
    return fresh(9, vector=np.asarray(values, np.float32))


def nan_at(i: int) -> np.ndarray:
    vector = np.ones(DIM, np.float32)
    vector[i] = np.nan
    return vector


def inf_at(i: int, sign: float = 1.0) -> np.ndarray:
    vector = np.ones(DIM, np.float32)
    vector[i] = sign * np.inf
    return vector


def times(start_ms: int, end_ms: int, video_id: str = "v2", node_id: str = "") -> SegmentInput:
    return SegmentInput(video_id, start_ms, end_ms, unit_vectors(1, seed=abs(start_ms))[0], id=node_id)


def case(case_id: str, batch: list[SegmentInput], field: str, error: type[StrataError] = InvalidArgument) -> object:
    return pytest.param(batch, error, field, id=case_id)


VEC1, START1, END1 = "segments[1].vector", "segments[1].start_ms", "segments[1].end_ms"

BAD_BATCHES = [
    case("dimension-high", [fresh(0), with_vector(np.ones(DIM + 1))], VEC1),
    case("dimension-low", [fresh(0), with_vector(np.ones(DIM - 1))], VEC1),
    case("nan", [fresh(0), with_vector(nan_at(3))], VEC1),
    case("inf", [fresh(0), with_vector(inf_at(0))], VEC1),
    case("minus-inf", [fresh(0), with_vector(inf_at(5, -1))], VEC1),
    case("zero-cosine", [fresh(0), with_vector(np.zeros(DIM))], VEC1),
    case("end-before-start", [fresh(0), times(5000, 4000)], END1),
    case("empty-span", [fresh(0), times(5000, 5000)], END1),
    case("negative-start", [fresh(0), times(-1, 1000)], START1),
    case("unknown-video", [fresh(0), fresh(1, "ghost")], "segments[1].video_id", NotFound),
    case("empty-video-id", [fresh(0), fresh(1, "")], "segments[1].video_id"),
    case("empty-batch", [], "segments"),
    case("duplicate-id", [fresh(0, id="x"), fresh(1, id="x")], "segments[1].id"),
    case("overlap-in-batch", [fresh(0), times(10_500, 11_500)], START1),
    case("overlap-stored", [fresh(0), times(2500, 3500, "v1")], START1, AlreadyExists),
    case("id-stored", [fresh(0), fresh(1, id="v1@1000")], "segments[1].id"),  # another segment's default id
    # The id the tree will give video v2's first half: its build would then fail.
    case("id-of-a-parent", [fresh(0), fresh(1, id="v2/half/0")], "segments[1].id"),
    case("id-with-a-line-break", [fresh(0), fresh(1, id="x\u2028y")], "segments[1].id"),
    case("text-without-encoder", [fresh(0), fresh(1, vector=None, text="a corner kick")], VEC1),
    case("no-vector-no-text", [fresh(0), fresh(1, vector=None)], VEC1),
    case(
        "only-last-bad",
        [*(fresh(i) for i in range(5)), with_vector(nan_at(0))],
        "segments[5].vector",
    ),
]


@pytest.mark.parametrize(("batch", "error", "field"), BAD_BATCHES)
def test_bad_batch_is_refused_whole(
    games: Database, batch: list[SegmentInput], error: type[StrataError], field: str
) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(3)))
    before = (segment_count(games), indexed_count(games))
    with pytest.raises(error) as err:
        games.append_segments(COLLECTION, batch)
    assert err.value.field == field
    assert (segment_count(games), indexed_count(games)) == before
    assert games.get_video(COLLECTION, "v2").segment_count == 0


def test_refused_batch_leaves_no_trace(games: Database) -> None:
    good = [fresh(i) for i in range(4)]
    with pytest.raises(InvalidArgument):
        games.append_segments(COLLECTION, [*good, with_vector(nan_at(0))], request_id="r1")
    result = games.append_segments(COLLECTION, good, request_id="r1")
    assert not result.replayed
    assert segment_count(games) == 4


def test_batch_over_limit_is_exhausted(open_db: OpenDb) -> None:
    db = open_db(max_batch=3)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    with pytest.raises(ResourceExhausted) as err:
        db.append_segments(COLLECTION, segments("v1", unit_vectors(4)))
    assert err.value.field == "segments"
    assert segment_count(db) == 0
    db.append_segments(COLLECTION, segments("v1", unit_vectors(3)))
    assert segment_count(db) == 3


def test_append_to_unknown_collection_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as err:
        db.append_segments("nothing", segments("v1", unit_vectors(1)))
    assert err.value.field == "collection"


def test_append_to_badly_named_collection_is_invalid(db: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        db.append_segments("bad name", segments("v1", unit_vectors(1)))
    assert err.value.field == "collection"


def test_segment_past_video_duration_is_refused(games: Database) -> None:
    games.create_video(COLLECTION, "short", duration_ms=1500)
    with pytest.raises(InvalidArgument) as err:
        games.append_segments(COLLECTION, segments("short", unit_vectors(2)))
    assert err.value.field == "segments[1].end_ms"
    assert segment_count(games) == 0
