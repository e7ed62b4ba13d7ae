"""One order for ranked answers: a deeper ranking starts with a shallower one, ties or not."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hierarchy.order import best_first, tied_at_cut

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


def test_ties_are_ranked_by_key_and_a_cut_tie_is_seen() -> None:
    keys, scores = np.array([9, 4, 7, 1]), np.array([0.5, 0.9, 0.5, 0.5])
    assert keys[best_first(keys, scores)].tolist() == [4, 1, 7, 9]
    assert keys[best_first(keys, scores, 2)].tolist() == [4, 1]
    assert tied_at_cut(np.sort(scores)[::-1], 2) and not tied_at_cut(np.sort(scores)[::-1], 1)
