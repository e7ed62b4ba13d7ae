"""The ``Database`` facade as a user drives it: real DuckDB file, real USearch, no mocks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy import catalog, filters, scan
from hierarchy.db import Database
from hierarchy.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from hierarchy.filters import AttributeCondition
from hierarchy.options import DatabaseOptions
from hierarchy.types import (
    EmbeddingSpace,
    Filter,
    Level,
    LevelStats,
    Mode,
    SearchQuery,
    TimeRange,
    VideoState,
)
from tests.hierarchy.helpers import (
    COLLECTION,
    DIM,
    SEGMENT_MS,
    OpenDb,
    all_pages,
    assert_each_segment_finds_itself,
    hit_ids,
    indexed_count,
    query,
    segment_count,
    segments,
    unit_vectors,
)

# -- videos -------------------------------------------------------------------------------


def test_a_database_sets_the_processs_scan_memory(open_db: OpenDb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan.BUDGET, "limit", scan.BUDGET.limit)  # put back after the test
    db = open_db(scan_memory_mb=0)
    assert scan.BUDGET.limit == 0
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    vectors = unit_vectors(25, seed=1)
    ids = db.append_segments(COLLECTION, segments("v1", vectors)).segment_ids
    assert_each_segment_finds_itself(db, ids, vectors)  # scored from the stored half floats
    index = db.indexes.of_collection(db.get_collection(COLLECTION).id)[Level.SEGMENT]
    assert index.exact and not index._scan.held  # with no copy made
    with pytest.raises(InvalidArgument, match="scan_memory_mb"):
        DatabaseOptions(scan_memory_mb=-1)


def test_create_and_get_video(games: Database) -> None:
    created = games.create_video(COLLECTION, "final", duration_ms=90_000, attributes={"home": "A"})
    fetched = games.get_video(COLLECTION, "final")
    assert created == fetched
    assert (fetched.id, fetched.collection, fetched.duration_ms) == ("final", COLLECTION, 90_000)
    assert fetched.attributes == {"home": "A"}
    assert fetched.state is VideoState.OPEN
    assert fetched.segment_count == 0
    assert games.get_collection(COLLECTION).video_count == 3


def test_video_segment_count_follows_appends(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(4)))
    assert games.get_video(COLLECTION, "v1").segment_count == 4
    assert games.get_video(COLLECTION, "v2").segment_count == 0


def test_duplicate_video_already_exists(games: Database) -> None:
    with pytest.raises(AlreadyExists) as err:
        games.create_video(COLLECTION, "v1")
    assert err.value.field == "video_id"


def test_video_in_unknown_collection_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as err:
        db.create_video("nothing", "v1")
    assert err.value.field == "collection"


def test_get_unknown_video_is_not_found(games: Database) -> None:
    with pytest.raises(NotFound) as err:
        games.get_video(COLLECTION, "missing")
    assert err.value.field == "video_id"


def test_list_videos_pages_in_id_order(games: Database) -> None:
    for video_id in ["v5", "v3", "v4"]:
        games.create_video(COLLECTION, video_id)
    seen, token = [], ""
    for _ in range(5):
        page, token = games.list_videos(COLLECTION, page_size=2, page_token=token)
        seen.append([v.id for v in page])
        if not token:
            break
    assert seen == [["v1", "v2"], ["v3", "v4"], ["v5"]]


def test_list_videos_token_of_another_collection_is_refused(games: Database) -> None:
    games.create_collection("other", EmbeddingSpace(DIM))
    _, token = games.list_videos(COLLECTION, page_size=1)
    assert token
    with pytest.raises(InvalidArgument) as err:
        games.list_videos("other", page_size=1, page_token=token)
    assert err.value.field == "page_token"


def test_delete_video(games: Database) -> None:
    games.delete_video(COLLECTION, "v1")
    with pytest.raises(NotFound):
        games.get_video(COLLECTION, "v1")
    assert [v.id for v in games.list_videos(COLLECTION)[0]] == ["v2"]
    with pytest.raises(NotFound) as err:
        games.delete_video(COLLECTION, "v1")
    assert err.value.field == "video_id"


# -- append and search --------------------------------------------------------------------


def test_append_returns_ids_in_request_order(games: Database) -> None:
    batch = segments("v1", unit_vectors(3))
    batch[1].id = "named"
    result = games.append_segments(COLLECTION, batch)
    assert result.segment_ids == ["v1@0", "named", "v1@2000"]
    assert not result.replayed
    assert result.commit_sequence == games.commit_sequence()
    later = games.append_segments(COLLECTION, segments("v2", unit_vectors(1)))
    assert later.commit_sequence > result.commit_sequence


def test_each_segment_vector_finds_its_segment_first(games: Database) -> None:
    vectors = unit_vectors(25, seed=1)
    ids = games.append_segments(COLLECTION, segments("v1", vectors)).segment_ids
    assert_each_segment_finds_itself(games, ids, vectors)
    hit = games.search(query(vectors[3], top_k=1)).hits[0]
    assert (hit.rank, hit.node.video_id, hit.node.start_ms, hit.node.end_ms) == (
        1,
        "v1",
        3000,
        4000,
    )
    assert hit.score == pytest.approx(hit.similarity)


def test_search_hits_are_best_first(games: Database) -> None:
    vectors = unit_vectors(25, seed=2)
    games.append_segments(COLLECTION, segments("v1", vectors))
    hits = games.search(query(unit_vectors(1, seed=99)[0], top_k=25)).hits
    sims = [h.similarity for h in hits]
    assert len(hits) == 25
    assert sims == sorted(sims, reverse=True)
    assert [h.rank for h in hits] == list(range(1, 26))


def test_search_top_k_zero_means_ten_and_too_large_is_refused(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(15)))
    assert len(games.search(query(unit_vectors(1)[0], top_k=0)).hits) == 10
    with pytest.raises(InvalidArgument) as err:
        games.search(query(unit_vectors(1)[0], top_k=games.options.max_top_k + 1))
    assert err.value.field == "top_k"


def test_top_k_zero_answers_within_a_limit_below_ten(open_db: OpenDb) -> None:
    db = open_db(max_top_k=4)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    ids = db.append_segments(COLLECTION, segments("v1", unit_vectors(15))).segment_ids
    assert len(db.search(query(unit_vectors(1)[0], top_k=0)).hits) == 4
    assert len(db.navigator.similar(COLLECTION, ids[0], top_k=0)) == 4
    with pytest.raises(InvalidArgument, match=r"between 1 and 4 \(0 means 4\)"):
        db.search(query(unit_vectors(1)[0], top_k=10))


def test_search_query_with_wrong_dimension_is_refused(games: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        games.search(query(np.ones(DIM + 1, np.float32)))
    assert err.value.field == "vector"


def test_search_without_text_or_vector_is_refused(games: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        games.search(SearchQuery(COLLECTION, Level.SEGMENT))
    assert err.value.field == "text"


def test_search_of_unknown_collection_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as err:
        db.search(query(unit_vectors(1)[0], collection="nothing"))
    assert err.value.field == "collection"


def test_text_query_without_encoder_fails_precondition(games: Database) -> None:
    with pytest.raises(FailedPrecondition) as err:
        games.search(SearchQuery(COLLECTION, Level.SEGMENT, text="corner kick"))
    assert err.value.field == "text"


def test_search_pages_do_not_overlap_and_ranks_continue(games: Database) -> None:
    vectors = unit_vectors(30, seed=3)
    games.append_segments(COLLECTION, segments("v1", vectors))
    q = query(vectors[0], top_k=7)
    pages = all_pages(games, q)
    ids = [node_id for page in pages for node_id in hit_ids(page)]
    assert [len(p.hits) for p in pages] == [7, 7, 7, 7, 2]
    assert [p.has_more for p in pages] == [True, True, True, True, False]
    assert len(ids) == len(set(ids)) == 30
    assert [h.rank for p in pages for h in p.hits] == list(range(1, 31))
    assert ids == hit_ids(games.search(query(vectors[0], top_k=30)))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda q: query(unit_vectors(1, seed=77)[0], top_k=q.top_k), id="other-vector"),
        pytest.param(lambda q: query(q.vector, top_k=q.top_k + 1), id="other-top-k"),
        pytest.param(
            lambda q: query(q.vector, top_k=q.top_k, filter=Filter(video_ids=("v1",))),
            id="other-filter",
        ),
    ],
)
def test_search_token_reused_with_another_query_is_refused(
    games: Database, change: Callable[[SearchQuery], SearchQuery]
) -> None:
    vectors = unit_vectors(10, seed=4)
    games.append_segments(COLLECTION, segments("v1", vectors))
    first = query(vectors[0], top_k=3)
    token = games.search(first).next_page_token
    assert token
    with pytest.raises(InvalidArgument) as err:
        games.search(change(first), token)
    assert err.value.field == "page_token"


@pytest.mark.parametrize("token", ["garbage", "e30", "W10", "eyJwIjoxfQ", "!!!!"])
def test_search_garbage_token_is_refused(games: Database, token: str) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(3)))
    with pytest.raises(InvalidArgument) as err:
        games.search(query(unit_vectors(1)[0]), token)
    assert err.value.field == "page_token"


# -- filters ------------------------------------------------------------------------------

FILTER_CASES = [
    pytest.param(Filter(video_ids=("v2",)), {"v2": range(10)}, id="video"),
    pytest.param(Filter(time_range=TimeRange(2500, 5000)), {"v1": [2, 3, 4], "v2": [2, 3, 4]}, id="time"),
    pytest.param(Filter(time_range=TimeRange(7000, 0)), {"v1": [7, 8, 9], "v2": [7, 8, 9]}, id="open-end"),
    pytest.param(
        Filter(video_ids=("v1",), time_range=TimeRange(2000, 3000)),
        {"v1": [2]},
        id="video-and-time",
    ),
    pytest.param(Filter(video_ids=("nobody",)), {}, id="no-match"),
]


@pytest.mark.parametrize("exact_filter_below", [50_000, 1], ids=["exact", "overfetch"])
@pytest.mark.parametrize(("flt", "expected"), FILTER_CASES)
def test_filters_return_only_matching_hits(
    open_db: OpenDb, exact_filter_below: int, flt: Filter, expected: dict[str, range | list[int]]
) -> None:
    """Each video has ten 1 s segments; ``expected`` maps a video to the matching indexes."""
    db = open_db(exact_filter_below=exact_filter_below)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for seed, video_id in enumerate(["v1", "v2"]):
        db.create_video(COLLECTION, video_id)
        db.append_segments(COLLECTION, segments(video_id, unit_vectors(10, seed=seed)))
    wanted = {f"{v}@{i * SEGMENT_MS}" for v, indexes in expected.items() for i in indexes}
    probe = unit_vectors(1, seed=42)[0]
    hits = db.search(query(probe, top_k=20, filter=flt)).hits
    assert {h.node.id for h in hits} == wanted
    assert [h.rank for h in hits] == list(range(1, len(wanted) + 1))
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    unfiltered = [h.node.id for h in db.search(query(probe, top_k=20)).hits]
    assert [h.node.id for h in hits] == [i for i in unfiltered if i in wanted]


@pytest.mark.parametrize("exact_filter_below", [50_000, 1], ids=["exact", "overfetch"])
def test_filtered_search_pages(open_db: OpenDb, exact_filter_below: int) -> None:
    db = open_db(exact_filter_below=exact_filter_below)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for seed, video_id in enumerate(["v1", "v2"]):
        db.create_video(COLLECTION, video_id)
        db.append_segments(COLLECTION, segments(video_id, unit_vectors(10, seed=seed)))
    target = unit_vectors(10, seed=1)[4]
    pages = all_pages(db, query(target, top_k=4, filter=Filter(video_ids=("v2",))))
    ids = [i for p in pages for i in hit_ids(p)]
    assert [len(p.hits) for p in pages] == [4, 4, 2]
    assert ids[0] == "v2@4000"
    assert sorted(ids) == sorted(f"v2@{i * SEGMENT_MS}" for i in range(10))
    assert [h.rank for p in pages for h in p.hits] == list(range(1, 11))


def test_deleted_video_leaves_search(games: Database) -> None:
    v1, v2 = unit_vectors(10, seed=1), unit_vectors(10, seed=2)
    games.append_segments(COLLECTION, segments("v1", v1))
    games.append_segments(COLLECTION, segments("v2", v2))
    games.delete_video(COLLECTION, "v1")
    hits = games.search(query(v1[0], top_k=20)).hits
    assert {h.node.video_id for h in hits} == {"v2"}
    assert [h.rank for h in hits] == list(range(1, 11))
    assert games.search(query(v1[0], filter=Filter(video_ids=("v1",)))).hits == []
    assert segment_count(games) == indexed_count(games) == 10
    games.create_video(COLLECTION, "v1")
    ids = games.append_segments(COLLECTION, segments("v1", v1)).segment_ids
    assert_each_segment_finds_itself(games, ids, v1)


def test_stats_counts(games: Database) -> None:
    games.create_collection("empty", EmbeddingSpace(DIM))
    nothing = [LevelStats(level, 0, 0, 0, True) for level in Level]  # every level, zero where empty
    assert games.stats(COLLECTION)[0].levels == nothing
    games.append_segments(COLLECTION, segments("v1", unit_vectors(6)))
    last = games.append_segments(COLLECTION, segments("v2", unit_vectors(4)))
    [stats] = games.stats(COLLECTION)
    assert (stats.name, stats.video_count) == (COLLECTION, 2)
    level, *above = stats.levels
    assert (level.level, level.node_count, level.indexed_count) == (Level.SEGMENT, 10, 10)
    assert above == nothing[1:]  # no tree built
    assert level.indexed_sequence == last.commit_sequence == games.commit_sequence()
    assert level.exact
    assert [s.name for s in games.stats()] == ["empty", COLLECTION]
    games.delete_video(COLLECTION, "v1")
    [after] = games.stats(COLLECTION)
    assert after.video_count == 1
    assert (after.levels[0].node_count, after.levels[0].indexed_count) == (4, 4)


def test_reports_of_every_collection_pass_over_one_deleted_meanwhile(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stats()`` and ``verify()`` of every collection list them, then read each: one
    another client deletes in between is left out, not a NOT_FOUND for the whole report."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(6)))
    games.create_collection("gone", EmbeddingSpace(DIM))
    listed = catalog.all_collections(games.store.cursor())
    games.delete_collection("gone")
    monkeypatch.setattr(catalog, "all_collections", lambda cur: listed)  # as listed before the delete
    assert [s.name for s in games.stats()] == [COLLECTION]
    assert games.verify().ok
    with pytest.raises(NotFound):  # named, it is still not found
        games.stats("gone")
    games.create_collection("gone", EmbeddingSpace(DIM))  # a namesake: its own counts, not the old one's
    games.create_video("gone", "v")
    assert [s.name for s in games.stats()] == [COLLECTION]  # the listing still names the deleted one
    monkeypatch.undo()
    assert [(s.name, s.video_count) for s in games.stats()] == [(COLLECTION, 2), ("gone", 1)]


def test_a_filter_of_too_many_attribute_conditions_is_refused_before_the_store_runs_it(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(6)))
    conditions = tuple(AttributeCondition(f"k{i}", float(i)) for i in range(filters.MAX_ATTRIBUTE_CONDITIONS + 1))
    with pytest.raises(InvalidArgument, match="has 65 conditions; at most 64") as err:
        games.search(query(unit_vectors(6)[0], filter=Filter(attributes=conditions)))
    assert err.value.field == "filter.attributes"
    allowed = Filter(attributes=conditions[:-1])
    assert games.search(query(unit_vectors(6)[0], filter=allowed)).hits == []  # no segment has k0..k63


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        (Filter(attributes=(AttributeCondition("n", maximum=float("nan")),)), "filter.attributes[0].range.max"),
        (Filter(attributes=(AttributeCondition("n", minimum=float("-inf")),)), "filter.attributes[0].range.min"),
        (Filter(attributes=(AttributeCondition("n", float("nan")),)), "filter.attributes[0].equals_number"),
        (Filter(attributes=(AttributeCondition("n", minimum=10**400),)), "filter.attributes[0].range.min"),
        (Filter(attributes=(AttributeCondition("n", 10**5000),)), "filter.attributes[0].equals_number"),
        (Filter(time_range=TimeRange(-5000, 0)), "filter.time_range"),
        (Filter(time_range=TimeRange(5000, 1000)), "filter.time_range"),
        (Filter(video_ids=("v1", "")), "filter.video_ids[1]"),
    ],
    ids=[
        "nan-max",
        "infinite-min",
        "nan-equals",
        "int-past-floats-min",
        "int-past-floats-equals",
        "negative-start",
        "ends-before-start",
        "empty-video-id",
    ],  # fmt: skip
)
def test_a_malformed_filter_is_refused_in_process_as_over_grpc(games: Database, flt: Filter, field: str) -> None:
    """A NaN bound passed every node in the store's SQL and none in the predicate, so the
    answers hung on the library's size; the others answered nothing or everything."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(6)))
    for mode in (Mode.LEVEL, Mode.AUTO):
        with pytest.raises(InvalidArgument) as err:
            games.search(replace(query(unit_vectors(6)[0], filter=flt), mode=mode))
        assert err.value.field == field


@pytest.mark.parametrize("config", ["[]", "{", '{"model_type": 7}'])
def test_a_text_encoder_folder_with_a_damaged_model_names_the_field(db: Database, tmp_path: Path, config: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    with pytest.raises(InvalidArgument, match="holds no loadable model") as err:
        db.create_collection("texts", EmbeddingSpace(0, text_encoder=str(folder)))
    assert err.value.field == "space.text_encoder"


def test_disk_bytes_passes_over_files_that_vanish(games: Database) -> None:
    """The size of the data directory while files come and go beside it (an index save's
    temporary files, a collection's folder being deleted): never an error."""
    churn = games.data_dir / "churn"
    stop = threading.Event()

    def come_and_go() -> None:
        while not stop.is_set():
            churn.mkdir(exist_ok=True)
            for i in range(20):
                (churn / f"{i}.tmp").write_bytes(b"x")
            for i in range(20):
                (churn / f"{i}.tmp").unlink()
            churn.rmdir()

    worker = threading.Thread(target=come_and_go)
    worker.start()
    try:
        sizes = [games.disk_bytes() for _ in range(500)]
    finally:
        stop.set()
        worker.join()
    assert min(sizes) > 0
    assert games.disk_bytes() <= min(sizes)  # the churn left nothing behind


def test_node_ids_made_from_the_longest_video_id_can_be_read(games: Database) -> None:
    """A 128-character video id is allowed; the ids Strata makes from it are longer and
    every call that takes a node id accepts them."""
    video_id = "v" * 128
    games.create_video(COLLECTION, video_id)
    [segment_id] = games.append_segments(COLLECTION, segments(video_id, unit_vectors(1))).segment_ids
    assert len(segment_id) > 128
    assert games.navigator.node(COLLECTION, segment_id).id == segment_id
    games.build_video(COLLECTION, video_id)
    root = f"{video_id}/video/0"
    assert [n.id for n in games.navigator.children(COLLECTION, root)[0]][:1] == [f"{video_id}/half/0"]
    assert games.navigator.similar(COLLECTION, root, 1) == []  # the only video
    by_example = games.search(SearchQuery(COLLECTION, Level.SEGMENT, node_id=segment_id, top_k=1))
    assert by_example.hits == []  # its only segment is the example itself
    with pytest.raises(InvalidArgument) as info:
        games.navigator.node(COLLECTION, "n" * 161)
    assert info.value.field == "node_id"


def test_a_label_given_twice_on_a_segment_is_kept_and_counted_once(games: Database) -> None:
    rows = segments("v1", unit_vectors(2))
    rows[0] = replace(rows[0], labels=["goal", "corner", "goal"])
    rows[1] = replace(rows[1], labels=["goal"])
    ids = games.append_segments(COLLECTION, rows).segment_ids
    assert list(games.navigator.node(COLLECTION, ids[0]).labels) == ["goal", "corner"]
    games.build_video(COLLECTION, "v1")
    root = games.navigator.node(COLLECTION, "v1/video/0")
    assert root.label_counts == {"goal": 2, "corner": 1}


def test_builder_parameters_stored_before_a_limit_was_tightened_stay_readable(games: Database) -> None:
    """A collection saved with a value a later version refuses to take is still served."""
    coll = games.get_collection(COLLECTION)
    with games.store.transaction() as cur:
        catalog.set_collection_config(cur, coll.id, {**coll.config, "hierarchy": {"scene_penalty": 5e6}})
    games._collections.clear()
    assert games.get_collection(COLLECTION).name == COLLECTION
    assert games.hierarchy_config(COLLECTION).scene_penalty == 5e6
    assert games.set_hierarchy_config(COLLECTION, {"half_count": 3}).scene_penalty == 5e6
    with pytest.raises(InvalidArgument) as info:
        games.set_hierarchy_config(COLLECTION, {"scene_penalty": 5e6})  # a request still may not set it
    assert info.value.field == "config.scene_penalty"
