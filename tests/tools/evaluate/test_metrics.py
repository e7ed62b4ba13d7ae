"""Segmentation metrics against hand-computed cases."""

from __future__ import annotations

import pytest

from tools.evaluate.metrics import (
    BoundaryCounts,
    LevelScore,
    boundaries,
    boundary_counts,
    grid_probes,
    match_boundaries,
    spans_from_boundaries,
    window_counts,
    window_size,
)

TWO_HALVES = [(0, 10_000), (10_000, 20_000)]


def test_boundaries_are_starts_after_the_first() -> None:
    assert boundaries([(0, 5), (5, 9), (12, 20)]) == [5, 12]
    assert boundaries([(0, 5)]) == []


@pytest.mark.parametrize(
    ("true", "pred", "tol", "matched"),
    [
        ([10, 20, 30], [11, 19, 50], 2, 2),
        ([10], [9, 11], 2, 1),  # one true boundary matches one prediction only
        ([10, 12], [11], 2, 1),  # one prediction matches one true boundary only
        ([10, 14], [12, 16], 2, 2),  # nearest-first would pair 14-12 and leave 10 alone
        ([10], [13], 2, 0),
        ([10], [12], 2, 1),  # the tolerance is inclusive
        ([], [5], 2, 0),
    ],
)
def test_matching_is_one_to_one_and_maximal(true: list[int], pred: list[int], tol: int, matched: int) -> None:
    assert match_boundaries(true, pred, tol) == matched


def test_precision_recall_f1() -> None:
    counts = boundary_counts([1000, 5000, 9000], [1500, 5200, 20_000], 1000)
    assert (counts.matched, counts.predicted, counts.true) == (2, 3, 3)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / 3)
    summed = counts + BoundaryCounts(1, 1, 3)
    assert (summed.precision, summed.recall) == (pytest.approx(3 / 4), pytest.approx(3 / 6))


def test_empty_sets() -> None:
    assert BoundaryCounts(0, 0, 0).f1 == 1.0
    assert BoundaryCounts(0, 0, 2).f1 == 0.0
    assert BoundaryCounts(0, 3, 0).f1 == 0.0


def test_window_is_half_the_mean_true_span_in_grid_cells() -> None:
    assert window_size(TWO_HALVES) == 5
    assert window_size([(0, 1000)]) == 1  # at least one cell
    assert window_size([(0, 30_000)], grid_ms=2000) == 8  # 7.5 rounds to even


def test_probes_skip_gaps() -> None:
    probes = grid_probes([(0, 2000), (10_000, 11_500)])
    assert probes.tolist() == [500, 1500, 10_500, 11_500]


def test_perfect_segmentation_has_no_error() -> None:
    counts = window_counts(TWO_HALVES, [10_000])
    assert (counts.pk_errors, counts.wd_errors, counts.windows) == (0, 0, 15)


def test_a_missed_boundary() -> None:
    # 20 probes, k = 5: the 5 windows straddling 10 s see a boundary in the truth only.
    counts = window_counts(TWO_HALVES, [])
    assert (counts.pk_errors, counts.wd_errors, counts.windows) == (5, 5, 15)
    assert counts.pk == pytest.approx(1 / 3)


def test_an_extra_boundary_counts_more_in_window_diff() -> None:
    # Extra boundary at 12 s: windows 7-9 hold two predicted boundaries against one true
    # (a WindowDiff error only); windows 10-11 hold one predicted against none (both).
    counts = window_counts(TWO_HALVES, [10_000, 12_000])
    assert (counts.pk_errors, counts.wd_errors) == (2, 5)
    assert counts.window_diff == pytest.approx(5 / 15)


def test_spans_from_boundaries() -> None:
    assert spans_from_boundaries([0, 4000, 4000, 9000, 12_000], 0, 10_000) == [(0, 4000), (4000, 9000), (9000, 10_000)]


def test_level_score_adds_videos() -> None:
    score = LevelScore.empty((1000, 3000))
    score.add(TWO_HALVES, TWO_HALVES)
    score.add(TWO_HALVES, [(0, 12_000), (12_000, 15_000), (15_000, 20_000)])
    summary = score.summary()
    assert summary["count_ratio"] == pytest.approx(5 / 4)
    assert summary["recall@1s"] == pytest.approx(1 / 2)  # 12 s misses 10 s at ±1 s
    assert summary["recall@3s"] == pytest.approx(2 / 2)
    assert summary["precision@3s"] == pytest.approx(2 / 3)
    assert set(summary) >= {"f1@1s", "f1@3s", "pk", "window_diff", "count_ratio"}
