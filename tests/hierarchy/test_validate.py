"""Request validation: each refusal names the offending field."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hierarchy import validate
from hierarchy.builder import HierarchyConfig
from hierarchy.errors import InvalidArgument, ResourceExhausted
from hierarchy.types import EmbeddingSpace, Level, Metric, SegmentInput


@pytest.mark.parametrize("name", ["a", "Games_2024", "v1.2-beta", "0", "x" * 64])
def test_valid_collection_names(name: str) -> None:
    assert validate.collection_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "", "_x", ".x", "-x", "a b", "a/b", "x" * 65, "é",
        "games\n",
        "x" * 64 + "\n",
    ],
    ids=repr,
)  # fmt: skip
def test_invalid_collection_names(name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.collection_name(name, "collection")
    assert err.value.field == "collection"


@pytest.mark.parametrize(
    "value",
    [
        "", "x" * 129, "a\tb", "a\x7fb", "\x00", "a\u0085b", "a\u2028b", "zero\u200bwidth", "no\u00a0break",
        " ", " leading", "trailing ",
    ],
    ids=repr,
)  # fmt: skip
def test_invalid_identifiers(value: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.identifier(value, "video_id")
    assert err.value.field == "video_id"


def test_identifier_rules() -> None:
    assert validate.identifier("x" * 128, "id") == "x" * 128
    assert validate.identifier("match 1 / é", "id") == "match 1 / é"
    assert validate.identifier("", "request_id", allow_empty=True) == ""


@pytest.mark.parametrize("value", ["v1/scene/0", "v1/drive/12", "a/b/half/1", "game 3/video/0"])
def test_segment_ids_may_not_look_like_a_parent_id(value: str) -> None:
    """A later build of that video would give one of its parents the same id."""
    with pytest.raises(InvalidArgument) as err:
        validate.segment_id(value, "segments[3].id")
    assert err.value.field == "segments[3].id" and "scene, drive, half or video" in err.value.message


@pytest.mark.parametrize("value", ["", "v1@0", "v1/segment/0", "v1/scene/x", "scene/0", "v1/scenes/0", "a@b", "@5"])
def test_other_segment_ids_are_taken(value: str) -> None:
    assert validate.segment_id(value, "segments[0].id", "v1@0") == value


@pytest.mark.parametrize("value", ["v1@1000", "v2@0", "cam@2@0", "x@0"])
def test_segment_ids_may_not_take_another_segments_default_id(value: str) -> None:
    """A segment sent unnamed gets ``<video>@<start_ms>``; had another taken it, that one
    would be refused ALREADY_EXISTS on an id its client never set."""
    with pytest.raises(InvalidArgument) as err:
        validate.segment_id(value, "segments[0].id", "v1@0")
    assert err.value.field == "segments[0].id" and "'v1@0'" in err.value.message


def test_vector_is_normalised_for_cosine() -> None:
    out = validate.vector(np.array([3.0, 4.0]), 2, Metric.COSINE, "vector")
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([0.6, 0.8])


@pytest.mark.parametrize("metric", [Metric.INNER_PRODUCT, Metric.L2_SQUARED])
def test_vector_is_kept_as_is_for_other_metrics(metric: Metric) -> None:
    assert validate.vector([3.0, 4.0], 2, metric, "vector").tolist() == [3.0, 4.0]
    assert validate.vector([0.0, 0.0], 2, metric, "vector").tolist() == [0.0, 0.0]
    assert validate.vector([65504.0, -65504.0], 2, metric, "vector").tolist() == [65504.0, -65504.0]
    with pytest.raises(InvalidArgument) as err:  # stored as half floats: it would become infinity
        validate.vectors([[1.0, 0.0], [3e38, 0.0]], 2, metric, lambda i: f"segments[{i}].vector")
    assert err.value.field == "segments[1].vector" and "65504" in err.value.message


@pytest.mark.parametrize("metric", [Metric.INNER_PRODUCT, Metric.L2_SQUARED])
def test_a_vector_too_small_for_half_floats_is_refused_not_kept_as_zero(metric: Metric) -> None:
    # Taken, 1e-8 throughout was stored as the zero vector and scored 0 against everything.
    with pytest.raises(InvalidArgument) as err:
        validate.vectors([[0.6, 0.8], [1e-8, 1e-8]], 2, metric, lambda i: f"segments[{i}].vector")
    assert err.value.field == "segments[1].vector" and "would be kept as 0" in err.value.message
    assert "scale every vector of the collection up by one factor" in err.value.message
    if metric is Metric.INNER_PRODUCT:  # a query too: the graph searches in them, and its length scores
        with pytest.raises(InvalidArgument, match="too small for the half floats.*; scale it up: a query's length"):
            validate.query_vectors([[1e-7, 2e-7]], 2, metric, lambda _: "vector")
    else:  # under L2 a query's smallness costs nothing (the distance is to it)
        assert validate.query_vectors([[1e-7, 2e-7]], 2, metric, lambda _: "vector")[0].tolist() == pytest.approx(
            [1e-7, 2e-7]
        )
    # Small values beside large ones are kept (their loss leaves the length as it is).
    unit = np.array([1.0, 1e-9, -1e-7, 0.0], np.float32)
    assert validate.vector(unit, 4, metric, "vector").tolist() == unit.tolist()
    assert validate.vector([1e-3, 2e-3], 2, metric, "vector").tolist() == pytest.approx([1e-3, 2e-3])


def test_a_zero_query_vector_is_refused_under_inner_product_only() -> None:
    with pytest.raises(InvalidArgument) as err:  # it would score every node 0: no order at all
        validate.query_vectors([[1.0, 0.0], [0.0, 0.0]], 2, Metric.INNER_PRODUCT, lambda i: f"part_vectors[{i}]")
    assert err.value.field == "part_vectors[1]" and "scores every node 0" in err.value.message
    assert validate.query_vectors([[0.0, 0.0]], 2, Metric.L2_SQUARED, lambda _: "vector").tolist() == [[0.0, 0.0]]
    assert validate.query_vectors([[0.0, 2.0]], 2, Metric.INNER_PRODUCT, lambda _: "vector").tolist() == [[0.0, 2.0]]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1.0, 2.0], id="too-short"),
        pytest.param([1.0, 2.0, 3.0, 4.0], id="too-long"),
        pytest.param([1.0, float("nan"), 0.0], id="nan"),
        pytest.param([float("inf"), 0.0, 0.0], id="inf"),
        pytest.param([0.0, 0.0, float("-inf")], id="minus-inf"),
        pytest.param(
            [1e39, 0.0, 0.0],
            id="overflows-float32",
            marks=pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
        ),
        pytest.param([0.0, 0.0, 0.0], id="zero-under-cosine"),
    ],
)
def test_bad_vectors(values: list[float]) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.vector(np.array(values), 3, Metric.COSINE, "segments[2].vector")
    assert err.value.field == "segments[2].vector"


@given(
    hnp.arrays(np.float32, st.integers(1, 64), elements=st.floats(width=32)),
    st.data(),
    st.sampled_from(list(Metric)),
)
def test_any_vector_with_a_nan_is_refused(vector: np.ndarray, data: st.DataObject, metric: Metric) -> None:
    vector[data.draw(st.integers(0, len(vector) - 1), label="nan at")] = np.nan
    with pytest.raises(InvalidArgument) as err:
        validate.vector(vector, len(vector), metric, "vector")
    assert err.value.field == "vector"


@given(hnp.arrays(np.float32, 8, elements=st.floats(-1e6, 1e6, width=32)))
def test_accepted_cosine_vectors_are_unit_length(vector: np.ndarray) -> None:
    try:
        out = validate.vector(vector, 8, Metric.COSINE, "vector")
    except InvalidArgument as err:
        assert err.field == "vector"
        return
    assert np.isfinite(out).all()
    assert float(np.linalg.norm(out)) == pytest.approx(1.0, abs=1e-5)


def seg(start_ms: int, end_ms: int) -> SegmentInput:
    return SegmentInput("v", start_ms, end_ms)


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "field"),
    [
        (-1, 10, "segments[0].start_ms"),
        (10, 10, "segments[0].end_ms"),
        (10, 5, "segments[0].end_ms"),
        (0, validate.MAX_TIME_MS + 1, "segments[0].end_ms"),
    ],
)
def test_bad_segment_times(start_ms: int, end_ms: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.segment_times(seg(start_ms, end_ms), "segments[0]")
    assert err.value.field == field


def test_good_segment_times() -> None:
    validate.segment_times(seg(0, 1), "s")
    validate.segment_times(seg(0, validate.MAX_TIME_MS), "s")


def test_batch_size() -> None:
    validate.batch_size(1, 3)
    validate.batch_size(3, 3)
    with pytest.raises(InvalidArgument) as empty:
        validate.batch_size(0, 3)
    with pytest.raises(ResourceExhausted) as big:
        validate.batch_size(4, 3)
    assert empty.value.field == big.value.field == "segments"


def test_page_size_defaults_and_caps() -> None:
    assert validate.page_size(0) == 100
    assert validate.page_size(7) == 7
    assert validate.page_size(10**6) == 1000
    with pytest.raises(InvalidArgument) as err:
        validate.page_size(-1)
    assert err.value.field == "page_size"


def test_top_k() -> None:
    assert validate.top_k(0, 1000) == 10
    assert validate.top_k(0, 7) == 7  # a server that allows fewer than ten
    assert validate.top_k(1000, 1000) == 1000
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgument) as err:
            validate.top_k(bad, 1000)
        assert err.value.field == "top_k"


def test_labels_and_attributes() -> None:
    assert validate.labels(["goal", "x" * 256], "segments[0].labels") == ["goal", "x" * 256]
    with pytest.raises(InvalidArgument) as err:
        validate.labels(["goal", ""], "segments[0].labels")
    assert err.value.field == "segments[0].labels[1]"
    with pytest.raises(InvalidArgument) as err:
        validate.labels(["goal", "a\x00b"], "segments[0].labels")
    assert err.value.field == "segments[0].labels[1]"
    with pytest.raises(InvalidArgument) as err:
        validate.attributes({"team": {"": 1}}, "attributes")
    assert err.value.field == "attributes.team."
    with pytest.raises(InvalidArgument) as err:
        validate.attributes({"k" * 300: 1}, "attributes")
    assert err.value.field == "attributes." + "k" * 32 + "…"
    with pytest.raises(InvalidArgument) as err:
        validate.attributes({"speed": float("nan")}, "attributes")
    assert err.value.field == "attributes.speed"


@pytest.mark.parametrize("folder", ["model", "./models/e", "../e"])
def test_a_relative_encoder_folder_is_refused(folder: str) -> None:
    """The server stores the name: a relative folder would be looked for from wherever it
    starts next."""
    with pytest.raises(InvalidArgument) as err:
        validate.space_names(EmbeddingSpace(0, text_encoder=folder))
    assert err.value.field == "space.text_encoder" and "absolute path" in err.value.message


def test_space_takes_the_encoder_dimension() -> None:
    assert validate.space(EmbeddingSpace(0, text_encoder="/models/e"), 384).dimension == 384
    assert validate.space(EmbeddingSpace(384, text_encoder="/models/e"), 384).dimension == 384


@pytest.mark.parametrize(
    ("space", "encoder_dim"),
    [
        (EmbeddingSpace(0), None),
        (EmbeddingSpace(-3), None),
        (EmbeddingSpace(validate.MAX_DIMENSION + 1), None),
        (EmbeddingSpace(128, text_encoder="/models/e"), 384),
    ],
)
def test_bad_spaces(space: EmbeddingSpace, encoder_dim: int | None) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.space(space, encoder_dim)
    assert err.value.field == "space.dimension"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scene_penalty": float("nan")}, "hierarchy.scene_penalty"),
        ({"scene_ridge": float("inf")}, "hierarchy.scene_ridge"),
        ({"half_count": validate.MAX_HALF_COUNT + 1}, "hierarchy.half_count"),
        ({"scene_dims": validate.MAX_DIMENSION + 1}, "hierarchy.scene_dims"),
        ({"drive_attribute": "x" * (validate.MAX_NAME_CHARS + 1)}, "hierarchy.drive_attribute"),
        ({"half_attribute": "a\nb"}, "hierarchy.half_attribute"),
        ({"scene_max_ms": 2**62}, "hierarchy.scene_max_ms"),  # times end at 2^53 ms, as segments' do
    ],
    ids=["nan", "inf", "too-many-halves", "too-many-dims", "long-name", "control-character", "time-past-2^53"],
)
def test_bad_hierarchy_values_are_refused(overrides: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.hierarchy_config(HierarchyConfig(), overrides)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"half_count": 0}, "is 0; must be at least 1"),
        ({"scene_min_ms": -5}, "is -5; must be at least 1"),
        ({"scene_penalty": 0.0}, "is 0; must be at least 1e-12"),
        ({"scene_dims": -1}, "is -1; must be >= 0"),
        # Integers in every digit: 4.61169e+18 and 9.0072e+15 said neither.
        ({"scene_max_ms": 2**62}, "is 4611686018427387904; must be at most 9007199254740992"),
        ({"half_count": 10**9}, "is 1000000000; must be at most 100"),
        ({"scene_penalty": 2.5e6}, "is 2.5e+06; must be at most 1e+06"),
    ],
)
def test_a_value_out_of_range_is_told_its_bound(overrides: dict, message: str) -> None:
    """Counts and times are whole numbers from 1; other numbers need only be positive."""
    with pytest.raises(InvalidArgument) as err:
        validate.hierarchy_config(HierarchyConfig(), overrides)
    assert err.value.message == message


@pytest.mark.parametrize(
    "values",
    [
        {"x": float("nan")},
        {"x": [1, {"y": float("inf")}]},
        {"x": {"y" * 300: 1}},
        {"x": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]},
    ],
    ids=["nan", "nested-inf", "long-key", "too-deep"],
)
def test_bad_attributes_are_refused_at_any_depth(values: dict) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.attributes(values, "attributes")
    assert err.value.field.startswith("attributes")


def test_text_limits_name_the_limit() -> None:
    assert validate.text("x" * validate.MAX_TEXT_CHARS, "text") == "x" * validate.MAX_TEXT_CHARS
    with pytest.raises(InvalidArgument, match=str(validate.MAX_TEXT_CHARS)):
        validate.text("x" * (validate.MAX_TEXT_CHARS + 1), "segments[0].text")
    with pytest.raises(InvalidArgument, match="limited to 8") as err:
        validate.query_text("x" * 9, 8)
    assert err.value.field == "text"


@pytest.mark.parametrize("value", [-1, validate.MAX_TIME_MS + 1])
def test_durations_out_of_range_are_refused(value: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.duration(value)
    assert err.value.field == "duration_ms"


def test_space_names_are_short_and_printable() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate.space_names(EmbeddingSpace(8, text_encoder="x" * 300))
    assert err.value.field == "space.text_encoder"
    with pytest.raises(InvalidArgument) as err:
        validate.space_names(EmbeddingSpace(8, model_name="a\x00b"))
    assert err.value.field == "space.model_name"


def test_hint_cuts_are_bounded_per_level() -> None:
    many = list(range(validate.MAX_HINT_CUTS))
    assert len(validate.hints({Level.SCENE: many})[Level.SCENE]) == validate.MAX_HINT_CUTS
    with pytest.raises(InvalidArgument) as err:
        validate.hints({Level.SCENE: [0], Level.DRIVE: [*many, validate.MAX_HINT_CUTS]})
    assert err.value.field == "hints[1].cut_ms"


def test_hint_cuts_lie_inside_a_video_of_known_duration() -> None:
    # A cut at or past the end starts no node: the build dropped it without a word.
    assert validate.hints({Level.HALF: [500]}) == {Level.HALF: [500]}  # duration unknown
    assert validate.hints({Level.HALF: [99]}, duration_ms=100) == {Level.HALF: [99]}
    with pytest.raises(InvalidArgument, match="cut at 100 ms is not inside the video") as err:
        validate.hints({Level.SCENE: [10], Level.HALF: [100]}, duration_ms=100)
    assert err.value.field == "hints[1].cut_ms"
