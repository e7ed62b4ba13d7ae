"""``LevelIndex``: persistence with checksums, parameter checks, and search quality."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy import scan as scan_module
from hierarchy.exact import similarity_from_distance
from hierarchy.index import IndexState, LevelIndex
from hierarchy.indexparams import IndexParams
from hierarchy.types import Metric
from hierarchy.vectortable import BLOCK_ROWS
from tests.hierarchy.helpers import DIM, keys, unit_vectors
from tests.hierarchy.helpers import INDEXED as COUNT
from tools.bench.corpus import generate


def make_index(
    path: Path,
    params: IndexParams | None = None,
    dim: int = DIM,
    metric: Metric = Metric.COSINE,
    scanned_whole: bool = False,
) -> LevelIndex:
    return LevelIndex(path, dim, metric, params or IndexParams(), scanned_whole=scanned_whole)


@pytest.fixture
def saved(path: Path, vectors: np.ndarray) -> LevelIndex:
    """An index of ``COUNT`` vectors (keys 1..COUNT) saved at watermark 7."""
    index = make_index(path)
    index.add(keys(COUNT), vectors, watermark=7)
    index.link_all()  # a save covers what is linked; the background linker may not have begun
    index.save()
    return index


def test_save_load_round_trip(saved: LevelIndex, path: Path, vectors: np.ndarray) -> None:
    loaded = make_index(path)
    assert loaded.load() == IndexState(count=COUNT, watermark=7)
    assert (len(loaded), loaded.watermark) == (COUNT, 7)
    for probe in vectors[:5]:
        got_keys, got_sims = loaded.search(probe, 10)
        want_keys, want_sims = saved.search(probe, 10)
        assert got_keys.tolist() == want_keys.tolist()
        assert got_sims == pytest.approx(want_sims)


def test_save_leaves_no_temporary_files(saved: LevelIndex, path: Path) -> None:
    assert sorted(p.name for p in path.parent.iterdir()) == ["segment.json", "segment.usearch"]


def test_load_without_files_is_none(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert make_index(path).load() is None
    assert not caplog.records  # a level never saved is built from the store, as expected: nothing to warn of


def flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_checksum_mismatch_loads_nothing(saved: LevelIndex, path: Path) -> None:
    flip_middle(path)
    fresh = make_index(path)
    assert fresh.load() is None
    assert (len(fresh), fresh.watermark) == (0, 0)


def test_truncated_file_loads_nothing(saved: LevelIndex, path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])
    assert make_index(path).load() is None


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_sidecar_count_mismatch_loads_nothing(saved: LevelIndex, path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**data, "count": COUNT + 1}))
    assert make_index(path).load() is None
    assert _warned(caplog) == [f"index {path}: {COUNT} vectors, its sidecar says {COUNT + 1}; rebuilding"]


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda data: [], id="list"),
        pytest.param(lambda data: 5, id="number"),
        pytest.param(lambda data: {k: v for k, v in data.items() if k != "count"}, id="no-count"),
        pytest.param(None, id="missing"),
    ],
)
def test_malformed_sidecar_loads_nothing(
    saved: LevelIndex, path: Path, rewrite: Callable[[dict], object] | None, caplog: pytest.LogCaptureFixture
) -> None:
    sidecar = path.with_suffix(".json")
    if rewrite is None:
        sidecar.unlink()
    else:
        sidecar.write_text(json.dumps(rewrite(json.loads(sidecar.read_text()))))
    assert make_index(path).load() is None
    # A rebuild the operator is told of, with the file that caused it (it was an INFO
    # line that said neither).
    assert _warned(caplog) == [f"{sidecar} is missing, unreadable or malformed: the file it describes is rebuilt"]


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"params": replace(IndexParams(), connectivity=32)}, id="connectivity"),
        pytest.param({"params": replace(IndexParams(), dtype="f32")}, id="dtype"),
        pytest.param({"dim": DIM * 2}, id="dimension"),
        pytest.param({"metric": Metric.L2_SQUARED}, id="metric"),
    ],
)
def test_parameter_mismatch_loads_nothing(saved: LevelIndex, path: Path, other: dict) -> None:
    assert make_index(path, **other).load() is None


def test_search_parameters_may_change_without_a_rebuild(saved: LevelIndex, path: Path, vectors: np.ndarray) -> None:
    """The beam and the exact-search threshold apply to searches, not to the saved graph."""
    params = replace(IndexParams(), expansion_search=32, exact_below=0)
    loaded = make_index(path, params)
    assert loaded.load() == IndexState(count=COUNT, watermark=7)
    assert loaded._index.expansion_search == 32 and not loaded.exact
    found, _ = loaded.search(vectors[3], 1)
    assert found.tolist() == [4]


def test_add_advances_the_watermark_and_never_lowers_it(path: Path, vectors: np.ndarray) -> None:
    index = make_index(path)
    index.add(keys(10), vectors[:10], watermark=5)
    index.add(keys(10, first=11), vectors[10:20], watermark=3)
    assert (len(index), index.watermark) == (20, 5)
    index.add(keys(0), vectors[:0], watermark=9)
    assert (len(index), index.watermark) == (20, 9)


def test_removed_keys_are_not_found(path: Path, vectors: np.ndarray) -> None:
    index = make_index(path)
    index.add(keys(COUNT), vectors, watermark=1)
    index.remove(keys(10))
    found, _ = index.search(vectors[0], COUNT)
    assert len(index) == len(found) == COUNT - 10
    assert not set(found.tolist()) & set(range(1, 11))


def test_scoring_several_queries_at_once_scores_as_one_at_a_time(path: Path, vectors: np.ndarray) -> None:
    index = make_index(path)
    index.add(keys(COUNT), vectors, watermark=1)
    index.remove(keys(5, first=20))
    asked = np.array([30, 3, 22, 150, 7, 21], np.int64)  # 21 and 22 are gone
    present, sims = index.score_all(asked, vectors[:3])
    assert present.tolist() == [30, 3, 150, 7] and sims.shape == (3, 4)
    for query, row in zip(vectors[:3], sims, strict=True):
        one_keys, one_sims = index.score(asked, query)
        at_once = dict(zip(present.tolist(), row.tolist(), strict=True))
        assert at_once == dict(zip(one_keys.tolist(), one_sims.tolist(), strict=True))
    assert index.score_all(np.zeros(0, np.int64), vectors[:2])[1].shape == (2, 0)


def test_clear_empties_the_index(saved: LevelIndex, vectors: np.ndarray) -> None:
    saved.clear()
    assert (len(saved), saved.watermark) == (0, 0)
    found, sims = saved.search(vectors[0], 10)
    assert len(found) == len(sims) == 0


def test_exact_below_threshold(path: Path, vectors: np.ndarray) -> None:
    index = make_index(path, IndexParams(exact_below=50))
    index.add(keys(49), vectors[:49], watermark=1)
    assert index.exact
    index.add(keys(1, first=50), vectors[49:50], watermark=2)
    assert not index.exact


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_a_scanned_level_searched_through_its_graph_finds_the_best_and_what_waits(
    path: Path, vectors: np.ndarray, dtype: str
) -> None:
    index = make_index(path, IndexParams(exact_below=10_000, dtype=dtype))
    index.add(keys(150), vectors[:150], watermark=1)
    index.link_all()
    assert index.exact
    with index._graph_lock:  # the next write waits unlinked
        index.add(keys(50, first=151), vectors[150:], watermark=2)
        for probe in vectors[140:160]:  # linked and waiting vectors alike
            scanned = index.search(probe, 10)
            graphed = index.search(probe, 10, graph=True)
            assert graphed[0].tolist() == scanned[0].tolist()
            np.testing.assert_allclose(graphed[1], scanned[1], atol=1e-6)  # table scores, not the graph's


@pytest.mark.parametrize("whole", [True, False], ids=["columns", "rows"])
@pytest.mark.parametrize("dtype", ["f16", "i8", "f32"])
def test_keys_of_a_scanned_level_score_as_its_search_scores_them(
    path: Path, vectors: np.ndarray, dtype: str, whole: bool
) -> None:
    # A filter's keys were scored by USearch over the half floats, the unfiltered search
    # from the float32 copy: now both from the copy, to the last bit (hierarchy.scan.ROW_GROUP),
    # in either of its layouts.
    index = make_index(path, IndexParams(exact_below=10_000, dtype=dtype), scanned_whole=whole)
    index.add(keys(COUNT), vectors, watermark=1)
    index.remove(keys(3, first=10))
    probe = vectors[5] + 0.5 * vectors[150]
    found, sims = index.search(probe, COUNT)
    by_key = dict(zip(found.tolist(), sims.tolist(), strict=True))
    asked = np.array([12, 152, 150, 10, 7, 999, 151], np.int64)  # gone (10), never there (999)
    for count in (None, 3):
        scored, scored_sims = index.score(asked, probe, count)
        expected = sorted((k for k in asked.tolist() if k in by_key), key=lambda k: (-by_key[k], k))[:count]
        assert scored.tolist() == expected
        assert scored_sims.tolist() == [by_key[k] for k in expected]
    present, all_sims = index.score_all(keys(3, first=150), np.stack([probe, vectors[0]]))
    assert present.tolist() == [150, 151, 152]  # a run of rows, read in place
    assert all_sims[0].tolist() == [by_key[k] for k in (150, 151, 152)]


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_a_small_level_with_no_room_for_its_copy_answers_alike(
    path: Path, vectors: np.ndarray, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the process's budget a level is scored by USearch over its half floats.
    index = make_index(path, IndexParams(exact_below=10_000, dtype=dtype))
    index.add(keys(COUNT), vectors, watermark=1)
    index.remove(keys(3, first=10))
    probe = vectors[5] + 0.5 * vectors[150]
    asked = np.array([12, 152, 150, 10, 7, 999, 151], np.int64)

    def answers() -> list[tuple[list[int], list[float]]]:
        scored = [index.search(probe, 20), index.score(asked, probe), index.score(asked, probe, 3)]
        present, sims = index.score_all(asked, np.stack([probe, vectors[0]]))
        return [(k.tolist(), s.tolist()) for k, s in scored] + [(present.tolist(), sims.ravel().tolist())]

    with monkeypatch.context() as budget:
        budget.setattr(scan_module.BUDGET, "limit", 0)
        uncopied = answers()
        assert not index._scan.held
    copied = answers()
    assert index._scan.held
    assert [k for k, _ in uncopied] == [k for k, _ in copied]
    for (_, without), (_, with_copy) in zip(uncopied, copied, strict=True):
        assert without == pytest.approx(with_copy, abs=1e-6)


def test_a_scanned_level_searched_through_a_poor_graph_answers_as_the_graph_does(path: Path) -> None:
    rows = generate(2000, dim=DIM, seed=5).vectors  # clustered, as a level's nodes are
    poor = IndexParams(exact_below=10_000, connectivity=2, expansion_add=8, expansion_search=8)
    index = make_index(path, poor)
    index.add(keys(len(rows)), rows, watermark=1)
    index.link_all()
    probes = rows[::50]
    shared = [set(index.search(q, 10, graph=True)[0].tolist()) & set(index.search(q, 10)[0].tolist()) for q in probes]
    assert sum(map(len, shared)) < 10 * len(probes)  # the scan would have found every one


def test_vectors_returns_stored_rows(saved: LevelIndex, vectors: np.ndarray) -> None:
    rows = saved.vectors(np.array([3, 1], np.int64))
    assert rows.dtype == np.float32
    assert rows == pytest.approx(vectors[[2, 0]], abs=1e-3)  # stored as f16


def test_similarity_from_distance() -> None:
    distances = np.array([0.0, 0.25, 2.0], np.float32)
    assert similarity_from_distance(Metric.COSINE, distances).tolist() == [1.0, 0.75, -1.0]
    assert similarity_from_distance(Metric.INNER_PRODUCT, distances).tolist() == [1.0, 0.75, -1.0]
    assert similarity_from_distance(Metric.L2_SQUARED, distances).tolist() == [0.0, -0.25, -2.0]


@pytest.mark.parametrize("metric", list(Metric))
def test_exact_scores_agree_with_the_index_distances(path: Path, metric: Metric) -> None:
    rows = unit_vectors(60, seed=3) * np.linspace(0.5, 2.0, 60, dtype=np.float32)[:, None]  # unequal norms
    index = make_index(path, IndexParams(exact_below=1_000), metric=metric)
    index.add(keys(60), rows, watermark=1)
    query = unit_vectors(1, seed=4)[0] * 1.5
    top, top_sims = index.search(query, 60)
    asked = np.concatenate([top[::-1], [999]])  # any order; a key that is not there
    found, sims = index.score(asked, query)
    assert found.tolist() == top.tolist()  # best first, as the index ranks them
    assert sims == pytest.approx(top_sims, rel=2e-3, abs=2e-3)
    best, best_sims = index.score(asked, query, 5)
    assert best.tolist() == top[:5].tolist() and best_sims == pytest.approx(top_sims[:5], rel=2e-3, abs=2e-3)


# -- approximate search quality ----------------------------------------------------------

RECALL_DIM = 64
RECALL_COUNT = 30_000
RECALL_QUERIES = 200


@pytest.fixture(scope="module")
def hnsw(tmp_path_factory: pytest.TempPathFactory) -> tuple[LevelIndex, np.ndarray, np.ndarray]:
    """A default-parameter index forced into HNSW mode, its queries and exact top-10 keys."""
    data = unit_vectors(RECALL_COUNT, RECALL_DIM, seed=7)
    queries = unit_vectors(RECALL_QUERIES, RECALL_DIM, seed=8)
    index = make_index(
        tmp_path_factory.mktemp("recall") / "segment.usearch",
        IndexParams(exact_below=0),
        dim=RECALL_DIM,
    )
    index.add(keys(RECALL_COUNT, first=0), data, watermark=1)
    index.link_all()  # the graph's recall, not the exact scan of writes still waiting
    assert not index.exact and index.unlinked == 0
    truth = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :10]
    return index, queries, truth


def recall_at_10(index: LevelIndex, queries: np.ndarray, truth: np.ndarray, count: int) -> float:
    found = 0
    for probe, best in zip(queries, truth, strict=True):
        got, _ = index.search(probe, count)
        found += len(set(got[:10].tolist()) & set(best.tolist()))
    return found / truth.size


def test_hnsw_recall_at_10_with_default_parameters(
    hnsw: tuple[LevelIndex, np.ndarray, np.ndarray],
) -> None:
    recall = recall_at_10(*hnsw, count=10)
    assert recall >= 0.95, f"recall@10 is {recall:.3f}"


def test_hnsw_recall_at_10_of_a_deep_search(
    hnsw: tuple[LevelIndex, np.ndarray, np.ndarray],
) -> None:
    """Asking for many neighbours (as deep pages do) widens the beam: the best 10 are right."""
    recall = recall_at_10(*hnsw, count=512)
    assert recall >= 0.95, f"recall@10 is {recall:.3f}"


def test_dirty_tracks_changes_since_the_last_save(saved: LevelIndex, path: Path, vectors: np.ndarray) -> None:
    assert not saved.dirty
    saved.add(keys(1, first=COUNT + 1), vectors[:1], watermark=8)
    assert saved.dirty
    saved.link_all()  # else the linker may change the index after the save
    saved.save()
    assert not saved.dirty
    saved.remove(keys(1))
    assert saved.dirty
    loaded = make_index(path)
    loaded.load()
    assert not loaded.dirty


def test_vectors_of_removed_keys_are_left_out(saved: LevelIndex, vectors: np.ndarray) -> None:
    saved.remove(keys(2))
    present, rows = saved.present_vectors(keys(4))
    assert keys(4)[present].tolist() == [3, 4]
    assert np.allclose(rows, vectors[2:4], atol=1e-3)
    assert saved.vector_of(1) is None and saved.vector_of(3) is not None


@pytest.mark.parametrize("exact_below", [10_000, 0], ids=["scanned", "graph"])
def test_unit_vectors_are_the_stored_rows_at_unit_length(path: Path, vectors: np.ndarray, exact_below: int) -> None:
    # A level small enough to scan reads them from its float32 copy; a larger one from the
    # table: both the stored (half-float) rows scaled to length 1, removed keys left out.
    index = make_index(path, IndexParams(exact_below=exact_below))
    index.add(keys(COUNT), vectors * 3.0, watermark=1)
    index.remove(keys(2))
    asked = np.array([4, 1, 3, COUNT + 5], np.int64)
    present, rows = index.unit_vectors(asked)
    assert asked[present].tolist() == [4, 3]
    stored = (vectors[[3, 2]] * 3.0).astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(rows, stored / np.linalg.norm(stored, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)


def _half_float_similarities(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    stored, query = rows.astype(np.float16).astype(np.float64), query.astype(np.float16).astype(np.float64)
    return stored @ query / (np.linalg.norm(stored, axis=1) * np.linalg.norm(query))


def test_an_8_bit_graph_answers_with_half_float_scores_and_reloads_them(path: Path) -> None:
    corpus = generate(3000, dim=64, seed=8).vectors
    params = IndexParams(dtype="i8", exact_below=0)
    index = LevelIndex(path, 64, Metric.COSINE, params, max_unlinked=5000)
    index.add(keys(3000), corpus, watermark=4)
    probes = corpus[::300] + 0.05 * unit_vectors(10, seed=2, dim=64)
    waiting = [index.search(probe, 10) for probe in probes]  # from the tail, scanned exactly
    index.link_all()
    for probe, (want_keys, _) in zip(probes, waiting, strict=True):
        got_keys, got_sims = index.search(probe, 10)
        # The graph's own 8-bit scores are off by up to 0.01; the answers are the table's.
        np.testing.assert_allclose(got_sims, _half_float_similarities(corpus[got_keys - 1], probe), atol=1e-4)
        assert len(set(got_keys.tolist()) & set(want_keys.tolist())) >= 9
    index.save()
    assert make_index(path, params, dim=64).load() is None  # 8-bit rows cannot give the exact ones back
    reloaded = make_index(path, params, dim=64)
    assert reloaded.load(lambda watermark: [(keys(3000), corpus)] if watermark == 4 else []) is not None
    for probe in probes:
        np.testing.assert_array_equal(reloaded.search(probe, 10)[1], index.search(probe, 10)[1])


def test_a_small_8_bit_index_is_scanned_at_half_float_precision(path: Path) -> None:
    rows = generate(3000, dim=64, seed=4).vectors  # dense scenes: many near-ties
    index = LevelIndex(path, 64, Metric.COSINE, IndexParams(dtype="i8"), max_unlinked=100)
    index.add(keys(3000), rows, watermark=1)  # more than the tail holds: linked at once
    for probe in rows[::600] + 0.05 * unit_vectors(5, seed=6, dim=64):
        want = _half_float_similarities(rows, probe)
        got_keys, got_sims = index.search(probe, 100)
        # Below exact_below every vector is scored at the table's precision: the true
        # hundred, in order (the graph's own 8-bit scores would swap near-ties).
        np.testing.assert_array_equal(got_keys, np.argsort(-want, kind="stable")[:100] + 1)
        np.testing.assert_allclose(got_sims, np.sort(want)[::-1][:100], atol=1e-4)


def test_a_scanned_8_bit_index_spans_blocks_and_leaves_removed_rows_out(path: Path) -> None:
    count = BLOCK_ROWS + 3000  # two blocks of the table
    rows = unit_vectors(count, seed=8, dim=32)
    params = IndexParams(dtype="i8", exact_below=count + 1)
    index = LevelIndex(path, 32, Metric.COSINE, params, max_unlinked=100)
    index.add(keys(count), rows, watermark=1)  # more than the tail holds: linked at once
    gone = keys(count)[::7]  # rows of both blocks, some among every probe's best
    index.remove(gone)
    kept = np.setdiff1d(keys(count), gone)
    for probe in rows[[5, BLOCK_ROWS + 10, count - 1]]:
        want = _half_float_similarities(rows, probe)[kept - 1]
        got_keys, got_sims = index.search(probe, 50)
        np.testing.assert_array_equal(got_keys, kept[np.argsort(-want, kind="stable")[:50]])
        np.testing.assert_allclose(got_sims, np.sort(want)[::-1][:50], atol=1e-4)
