"""One order for ranked answers: a deeper ranking starts with a shallower one, ties or not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy.exact import exact_top
from hierarchy.order import best_first, in_sorted, near_best
from hierarchy.types import Metric

SCORES = st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9, -1.0, float("-inf")]), min_size=0, max_size=40)


@given(SCORES, st.integers(0, 45), st.integers(0, 45))
def test_a_deeper_ranking_starts_with_a_shallower_one(scores: list[float], shallow: int, deep: int) -> None:
    shallow, deep = min(shallow, deep), max(shallow, deep)
    keys = np.random.default_rng(len(scores)).permutation(len(scores)) * 7
    values = np.asarray(scores, np.float32)
    first, more = best_first(keys, values, shallow), best_first(keys, values, deep)
    assert first.tolist() == more[: len(first)].tolist()
    assert len(more) == min(deep, len(scores))
    ranked = list(zip((-values[more]).tolist(), keys[more].tolist(), strict=True))
    assert ranked == sorted(ranked)  # best score first, then the lowest key


def test_ties_are_ranked_by_key() -> None:
    keys, scores = np.array([9, 4, 7, 1]), np.array([0.5, 0.9, 0.5, 0.5])
    assert keys[best_first(keys, scores)].tolist() == [4, 1, 7, 9]
    assert keys[best_first(keys, scores, 2)].tolist() == [4, 1]


@pytest.mark.parametrize("run", [1, 5, 200])
def test_an_exact_top_k_over_repeated_rows_keeps_the_lowest_keys_of_a_tie(run: int) -> None:
    """Rows repeated ``run`` times (one caption many times): the top k is the same set and
    order whatever k, ties going to the lowest keys, past the room a single pass asks for."""
    rng = np.random.default_rng(run)
    base = rng.normal(size=(40, 16)).astype(np.float32)
    rows = np.repeat(base, run, axis=0)
    keys = rng.permutation(len(rows)).astype(np.int64) * 3
    query = base[0] + 0.01
    ranked = [keys[exact_top(keys, rows, query, k, Metric.COSINE)[0]].tolist() for k in (1, 7, run + 10)]
    assert all(deeper[: len(shallow)] == shallow for shallow, deeper in zip(ranked[:-1], ranked[1:], strict=True))
    tied = sorted(keys[:run].tolist())  # base[0]'s copies come first in rows
    assert ranked[2][:run] == tied


@given(st.lists(st.integers(-50, 50), max_size=30), st.lists(st.integers(-60, 60), max_size=30))
def test_membership_in_sorted_keys_is_numpys(held: list[int], asked: list[int]) -> None:
    sorted_keys, keys = np.unique(np.asarray(held, np.int64)), np.asarray(asked, np.int64)
    assert in_sorted(sorted_keys, keys).tolist() == np.isin(keys, sorted_keys).tolist()


def test_the_tail_s_candidates_hold_every_near_tie_of_the_last_and_at_most_so_many() -> None:
    """``near_best``: the best few, and each score close enough to the last of them that
    the table's scoring (off in the last bits) could put it ahead; relative to the scores'
    size (L2 distances run to thousands); past the bound, the lowest keys of the near ties."""
    scores = np.array([0.9, 0.5, 0.5 - 5e-5, 0.5 - 2e-4, 0.1])
    keys = np.arange(5)
    assert sorted(near_best(keys, scores, 2, 1e-4, 10)) == [0, 1, 2]
    assert sorted(near_best(keys, scores, 5, 1e-4, 10)) == [0, 1, 2, 3, 4]
    far = -np.array([10.0, 2000.0, 2000.1, 2000.3, 2001.0])  # within 1e-4 of 2,000: 0.2
    assert sorted(near_best(keys, far, 2, 1e-4, 10)) == [0, 1, 2]
    tied = np.array([1.0] + [0.5] * 8)  # eight alike behind the best
    picked = near_best(np.array([5, 17, 3, 9, 11, 2, 30, 8, 1]), tied, 2, 1e-4, 4)
    assert sorted(picked) == [0, 2, 5, 8]  # the best, then keys 1, 2 and 3
