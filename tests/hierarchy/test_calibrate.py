"""Calibration statistics: single-precision moments score as double precision does, and
a level that grew keeps its moments serving while new ones are computed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hierarchy.calibrate import LevelMoments, MomentsCache, sample_of
from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Level, Metric, Mode, SearchQuery
from tests.hierarchy.helpers import COLLECTION, DIM, segments, unit_vectors

KEY = (1, 0)


def test_moments_score_as_double_precision_does() -> None:
    vectors = unit_vectors(3000, seed=3) * 0.5 + unit_vectors(1, seed=4)  # clustered, off-centre
    moments = LevelMoments.of(vectors, len(vectors))
    wide = vectors.astype(np.float64)
    centred = wide - wide.mean(axis=0)
    covariance = centred.T @ centred / (len(wide) - 1)
    query = unit_vectors(1, seed=5)[0].astype(np.float64)
    sims = wide @ query
    expected = (sims - query @ wide.mean(axis=0)) / np.sqrt(query @ covariance @ query)
    assert np.allclose(moments.z(query, sims), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("metric", "offset"),
    [(Metric.COSINE, 0.0), (Metric.INNER_PRODUCT, 0.0), (Metric.L2_SQUARED, 0.0), (Metric.L2_SQUARED, 30.0)],
)
def test_every_metric_s_scores_are_the_z_scores_of_its_similarities(
    db: Database, metric: Metric, offset: float
) -> None:
    # Under squared distance the centre and spread were those of a dot product: a level's
    # scores averaged -5 and its best matches scored below zero. Far from the origin
    # (offset), a floor on the spread scaled by the norms had flattened every score.
    rng = np.random.default_rng(7)
    vectors = (rng.normal(size=(600, DIM)) * rng.uniform(0.5, 2.0, size=(600, 1)) + offset).astype(np.float32)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM, metric=metric))
    db.create_video(COLLECTION, "v1")
    db.append_segments(COLLECTION, segments("v1", vectors))
    index = db.indexes.of_collection(db.get_collection(COLLECTION).id)[Level.SEGMENT]
    moments = LevelMoments.of(sample_of(index), len(index))
    for query in (rng.normal(size=(5, DIM)) + offset).astype(np.float32):
        query = query / np.linalg.norm(query) if metric is Metric.COSINE else query  # as a search sends it
        sims = index.search(query, len(index))[1].astype(np.float64)
        scores = moments.z(query, sims)
        assert abs(scores.mean()) < 0.05 and abs(scores.std() - 1.0) < 0.05  # the sample is the whole level


def test_a_level_of_one_node_scores_zero(db: Database) -> None:
    # No spread: rounding noise over a spread clamped to 1e-6 scored hundreds.
    vector = unit_vectors(1, seed=8)
    moments = LevelMoments.of(vector.astype(np.float16).astype(np.float32), 1)
    for query in unit_vectors(5, seed=9):
        similarity = float(vector[0].astype(np.float16).astype(np.float64) @ query)
        assert moments.z(query, np.array([similarity]))[0] == 0.0


class Sampler:
    """The level's vectors as a cache samples them, counting the calls."""

    def __init__(self, count: int, release: threading.Event | None = None) -> None:
        self.count, self.calls, self.release = count, 0, release

    def __call__(self) -> np.ndarray:
        self.calls += 1
        if self.release is not None:
            self.release.wait(10)
        return unit_vectors(self.count, seed=self.count)


def test_a_level_that_grew_keeps_serving_its_moments_while_new_ones_are_computed() -> None:
    cache = MomentsCache()
    first = cache.get(KEY, 1000, Sampler(1000), as_of=1, deleted=0)
    assert first.count == 1000
    assert cache.get(KEY, 1090, Sampler(1090), as_of=2, deleted=0) is first  # within a tenth: kept
    release = threading.Event()
    grown = Sampler(1500, release)
    assert cache.get(KEY, 1500, grown, as_of=3, deleted=0) is first  # stale: served while recomputed
    assert cache.get(KEY, 1500, grown, as_of=3, deleted=0) is first and grown.calls == 1  # one refresh at a time
    release.set()
    cache.settle()
    assert cache.get(KEY, 1500, Sampler(1500), as_of=4, deleted=0).count == 1500
    assert cache.get(KEY, 1500, Sampler(1500), as_of=1, deleted=0) is first  # an older commit's search


def test_reading_ahead_follows_any_change_until_a_search_is_given_the_moments() -> None:
    cache = MomentsCache()
    cache.prepare(KEY, 1000, Sampler(1000), 1, deleted=0, mark="a")
    cache.prepare(KEY, 1010, Sampler(1010), 2, deleted=0, mark="b")  # changed, none given: replaced
    given = cache.get(KEY, 1010, Sampler(1010), as_of=2, deleted=0)
    assert given.count == 1010 and cache.pinned(KEY, given.version) is given
    cache.prepare(KEY, 1020, Sampler(1020), 3, deleted=0, mark="c")  # a small change: kept as given
    assert cache.get(KEY, 1020, Sampler(1020), as_of=3, deleted=0) is given
    cache.prepare(KEY, 1200, Sampler(1200), 4, deleted=0, mark="d")  # stale: new beside the given
    assert cache.get(KEY, 1200, Sampler(1200), as_of=4, deleted=0).count == 1200
    assert cache.pinned(KEY, given.version) is given


def test_moments_far_off_the_level_size_are_computed_before_answering() -> None:
    cache = MomentsCache()
    cache.get(KEY, 0, Sampler(0), as_of=1, deleted=0)  # an empty level, as at a start before a load
    assert cache.get(KEY, 800, Sampler(800), as_of=2, deleted=0).count == 800
    assert cache.get(KEY, 2000, Sampler(2000), as_of=3, deleted=0).count == 2000  # more than doubled


def test_a_video_replaced_by_one_of_as_many_segments_refreshes_the_statistics(games: Database) -> None:
    """A delete and an add of as many nodes leave the level's size as it was; the
    statistics still follow what the level now holds."""
    rng = np.random.default_rng(4)
    one, other = rng.normal(size=DIM), rng.normal(size=DIM)  # two unlike directions

    def around(centre: np.ndarray, seed: int) -> np.ndarray:
        rows = centre + 0.3 * np.random.default_rng(seed).normal(size=(200, DIM))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    first, second = around(one, 1), around(other, 2)
    games.append_segments(COLLECTION, segments("v1", first))
    games.search(SearchQuery(COLLECTION, vector=first[0], text="a moment", mode=Mode.AUTO))
    games.delete_video(COLLECTION, "v1")
    games.append_segments(COLLECTION, segments("v2", second))
    games.search(SearchQuery(COLLECTION, vector=second[0], text="a moment", mode=Mode.AUTO))
    games.searcher._level_moments.settle()  # a refresh in the background
    key = (games.get_collection(COLLECTION).id, int(Level.SEGMENT))
    latest = games.searcher._level_moments._moments[key][-1][1]
    assert latest.count == 200
    assert np.allclose(latest.mean, second.mean(axis=0), atol=1e-3)


def test_rebuilding_trees_keeps_the_statistics(db: Database) -> None:
    """A rebuild replaces a video's parents by new ones of the same segments: no level's
    statistics are computed again for it (each new version could push out one that the
    later pages of a search under way use)."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for i in range(10):
        db.create_video(COLLECTION, f"v{i}")
        db.append_segments(COLLECTION, segments(f"v{i}", unit_vectors(120, seed=i)))
        db.seal_video(COLLECTION, f"v{i}")
    q = SearchQuery(COLLECTION, vector=unit_vectors(1, seed=99)[0], mode=Mode.ALL)
    db.search(q)
    cache = db.searcher._level_moments
    versions = {key: [m.version for _, m in kept] for key, kept in cache._moments.items()}
    for _ in range(2):
        for i in range(10):
            db.build_video(COLLECTION, f"v{i}")
            db.search(q)
    cache.settle()
    assert {key: [m.version for _, m in kept] for key, kept in cache._moments.items()} == versions
