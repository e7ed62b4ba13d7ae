"""Calibration statistics: single-precision moments score as double precision does, and
a level that grew keeps its moments serving while new ones are computed."""

from __future__ import annotations

import threading

import numpy as np

from hierarchy.calibrate import LevelMoments, MomentsCache
from tests.hierarchy.helpers import unit_vectors

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
    first = cache.get(KEY, 1000, Sampler(1000), as_of=1)
    assert first.count == 1000
    assert cache.get(KEY, 1090, Sampler(1090), as_of=2) is first  # within a tenth: kept
    release = threading.Event()
    grown = Sampler(1500, release)
    assert cache.get(KEY, 1500, grown, as_of=3) is first  # stale: served while recomputed
    assert cache.get(KEY, 1500, grown, as_of=3) is first and grown.calls == 1  # one refresh at a time
    release.set()
    cache.settle()
    assert cache.get(KEY, 1500, Sampler(1500), as_of=4).count == 1500
    assert cache.get(KEY, 1500, Sampler(1500), as_of=1) is first  # an older commit's search


def test_moments_far_off_the_level_size_are_computed_before_answering() -> None:
    cache = MomentsCache()
    cache.get(KEY, 0, Sampler(0), as_of=1)  # an empty level, as at a start before a load
    assert cache.get(KEY, 800, Sampler(800), as_of=2).count == 800
    assert cache.get(KEY, 2000, Sampler(2000), as_of=3).count == 2000  # more than doubled
